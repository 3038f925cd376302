// The compiled template (compiled once per step version, filled per email) gives
// exactly what rendering each email from scratch gives: MJML with the values, then
// the tracking rewrite. Compared on the render fixtures, the import fixtures and
// merge-tag heavy cases.
import mjml2html from 'mjml';
import { beforeEach, describe, expect, it } from 'vitest';
import { normalizeBlocks, type BlockInput, type ColumnBlock } from '../../src/domain/blocks.js';
import { importHtml } from '../../src/domain/html-import.js';
import type { MergeTagContext } from '../../src/domain/merge-tags.js';
import type { TrackingKeys } from '../../src/domain/tracking-links.js';
import { clearCompiledSteps, compiledEmailStats, takeUnstored } from '../../src/mail/compiled-email.js';
import { SLOT_NONCE, bodyText, type TextMemo } from '../../src/mail/render.js';
import { renderTrackedStep, renderTrackedStepOnce } from '../../src/mail/tracked-email.js';
import { MJML, NEWSLETTER } from '../fixtures/import-emails.js';

const keys: TrackingKeys = { baseUrl: 'https://mail.example.com', key: Buffer.alloc(32, 7) };
const WORKSPACE = '0196b4a0-0000-7000-8000-00000000000a';

const ada: MergeTagContext = {
  subscriber: {
    email: 'ada+news@example.com',
    firstName: 'Ada',
    lastName: 'Lovelace',
    attributes: { bio: '<script>alert("x")</script>', company: 'Tea & Co', quote: `It's "fine" <b>&amp;</b>`, spaced: '  padded\u00a0value  ' },
  },
  event: {
    url: 'https://shop.example.com/orders/42?src=mail&x=<1>',
    id: 'o 42',
    bad: 'javascript:alert(1)',
    data: 'data:text/html,<script>alert(1)</script>',
    img: 'https://cdn.example.com/o.png',
    mail: 'mailto:help@example.com',
    items: [{ name: 'Tea "Sencha" <green>' }],
    total: 42.5,
  },
  discount: { code: 'SAVE&10', percentOff: 10, amountOff: null, currency: null, expiresAt: new Date('2030-01-02T03:04:05Z') },
};

const nobody: MergeTagContext = {
  subscriber: { email: 'x@example.com', firstName: null, lastName: null, attributes: {} },
  event: null,
  discount: null,
};

const grace: MergeTagContext = {
  subscriber: { email: 'grace@example.com', firstName: '<Grace>', lastName: "O'Hara", attributes: { company: '"Quotes" & <tags>' } },
  event: { url: 'https://example.com/a b"c', bad: ' javascript:x', img: 'http://cdn.example.com/g.png', mail: 'https://example.com/ok', items: [] },
  discount: null,
};

let message = 0;
async function expectIdentical(
  step: { id?: string; subject: string; previewText: string | null; blocks: unknown },
  context: MergeTagContext,
  transactional = false,
) {
  const options = { context, transactional, workspaceId: WORKSPACE, messageId: `0196b4a0-0000-7000-8000-${String(++message).padStart(12, '0')}`, keys };
  const once = await renderTrackedStepOnce(step, options);
  const compiled = await renderTrackedStep(step, options);
  expect(compiled).toEqual(once);
  return compiled;
}

const RENDER_FIXTURES: BlockInput[][] = [
  [{ type: 'text', text: 'Hi' }],
  [
    { type: 'heading', text: 'Welcome, {{subscriber.firstName}}!', level: 2 },
    { type: 'text', text: 'We are <b>glad</b> you are <em>here</em>.<br>See <a href="https://example.com/docs">the docs</a>.', variant: 'muted', align: 'center' },
    { type: 'button', text: 'Track order', url: '{{event.url}}', align: 'left' },
    { type: 'image', src: 'https://cdn.example.com/hero.png', alt: 'Hero for {{subscriber.firstName}}', width: 320, href: 'https://example.com/hero' },
    { type: 'list', items: ['Free shipping', 'Easy <b>returns</b>'] },
    { type: 'list', items: ['First', 'Second'], ordered: true },
    { type: 'divider' },
    { type: 'spacer', height: 40 },
    { type: 'html', html: '<table class="legacy"><tr><td>Imported for {{subscriber.email}}</td></tr></table>' },
    { type: 'footer', text: 'Sent to {{subscriber.email}}.' },
  ],
  [
    { type: 'heading', text: '{{subscriber.attributes.bio}}' },
    { type: 'text', text: 'About you: <i>{{subscriber.attributes.bio}}</i> at {{subscriber.attributes.company}}' },
    { type: 'button', text: '{{subscriber.attributes.bio}}', url: 'https://example.com' },
    { type: 'image', src: 'https://cdn.example.com/a.png', alt: '{{subscriber.attributes.bio}}' },
    { type: 'list', items: ['{{subscriber.attributes.bio}}'] },
    { type: 'html', html: '<p>{{subscriber.attributes.bio}}</p>' },
  ],
  [
    { type: 'button', text: 'Reorder', url: 'https://example.com/r?code={{discount.code}}&to={{subscriber.email}}' },
    { type: 'image', src: '{{event.img}}', alt: 'Order', href: '{{event.bad}}' },
    { type: 'text', text: '<a href="{{event.url}}&amp;x=1">Order {{event.id}}</a>' },
  ],
  [{ type: 'text', text: 'Hi' }, { type: 'footer', text: 'Custom footer' }],
  [
    { type: 'heading', text: 'Picks' },
    {
      type: 'columns',
      columns: [
        [{ type: 'image', src: 'https://cdn.example.com/tea.png', alt: 'Tea', href: '{{event.mail}}' }, { type: 'text', text: 'Green tea' }],
        [{ type: 'text', text: 'Dark roast' }, { type: 'html', html: '<p>raw in column <a href="{{event.url}}">{{event.id}}</a></p>' }],
        [{ type: 'button', text: 'Shop', url: 'https://example.com/shop' }, { type: 'footer' }],
      ],
    },
  ],
  [{ type: 'html', html: '<!doctype html><html><head><title>Old</title><style>.x{color:red}</style></head><body class="b"><p class="x">Hello {{subscriber.firstName}}</p></body></html>' }],
];

// Every context a merge tag can sit in, with values that need escaping, missing
// values with fallbacks, event snapshot values and URLs good and bad.
const MERGE_HEAVY: BlockInput[] = [
  { type: 'heading', text: '{{subscriber.attributes.spaced}}{{subscriber.attributes.quote}} {{subscriber.lastName|Tom & "Jerry" <3>}}' },
  { type: 'text', text: '{{subscriber.attributes.spaced}} {{subscriber.firstName|friend}} <b>{{event.items.0.name|none & nothing}}</b> {{event.total}} {{discount.expiresAt}}' },
  { type: 'text', text: 'Links: <a href="{{event.url}}">order</a> <a href="{{event.bad}}">bad</a> <a href="{{event.data}}">data</a> <a href="{{event.mail}}">mail</a> <a href="{{event.missing|https://example.com/f?a=1&amp;b=2}}">fallback</a> <a href="https://example.com/q?c={{discount.code}}&amp;n={{subscriber.firstName}}">query</a>' },
  { type: 'button', text: '{{subscriber.attributes.quote}}', url: '{{event.url}}' },
  { type: 'button', text: 'Bad', url: '{{event.bad}}' },
  { type: 'image', src: '{{event.img|https://cdn.example.com/none.png}}', alt: '{{subscriber.attributes.quote}}', href: '{{event.url}}' },
  { type: 'image', src: 'https://cdn.example.com/x.png', alt: 'x', href: '{{event.mail}}' },
  { type: 'list', items: ['{{subscriber.attributes.company}}', '<a href="{{event.url}}">{{event.id|no id}}</a>'] },
  {
    type: 'html',
    html: '<div title="{{subscriber.attributes.quote}}" class="c"><a href="{{event.url}}">{{event.id}}</a> <a href="{{event.bad}}">bad</a> <img src="{{event.img}}" alt="{{subscriber.attributes.company}}"> &amp; {{subscriber.attributes.bio}}</div><p>{{subscriber.lastName|&lt;none&gt;}}</p>',
  },
  { type: 'footer', text: '{{subscriber.attributes.company}} — {{subscriber.email}}' },
];

beforeEach(() => clearCompiledSteps());

describe('compiled templates', () => {
  it('give the per-email renderer’s output on the render fixtures', async () => {
    for (const [i, blocks] of RENDER_FIXTURES.entries()) {
      const step = { id: `render-${i}`, subject: 'Hello {{subscriber.firstName}}', previewText: 'Your code: {{discount.code}}', blocks };
      for (const context of [ada, nobody, grace]) {
        await expectIdentical(step, context);
        await expectIdentical(step, context, true);
      }
    }
    expect(compiledEmailStats().uncompilable).toBe(0);
  });

  it('give the per-email renderer’s output on the imported HTML fixtures', async () => {
    const newsletter = importHtml(NEWSLETTER);
    const mjml = importHtml((await mjml2html(MJML, { validationLevel: 'soft' })).html);
    for (const blocks of [newsletter, mjml]) {
      for (const context of [ada, nobody, grace]) await expectIdentical({ subject: 'Imported', previewText: null, blocks }, context);
    }
    expect(compiledEmailStats().uncompilable).toBe(0);
  });

  it('give the per-email renderer’s output with merge tags everywhere, escaping values and checking URLs', async () => {
    const step = { id: 'heavy', subject: '{{subscriber.attributes.quote}}\n{{subscriber.firstName|there}}', previewText: '{{subscriber.firstName}}', blocks: MERGE_HEAVY };
    const emails = [];
    for (const context of [ada, nobody, grace, ada, grace]) emails.push(await expectIdentical(step, context));
    const [forAda, forNobody] = emails;
    expect(forAda!.html).not.toMatch(/<script|javascript:|data:text/i);
    expect(forAda!.html).toContain('&lt;script&gt;');
    expect(forAda!.html).toContain('href="#"');
    expect(forNobody!.html).toContain('Tom &amp; "Jerry" &lt;3&gt;');
    expect(forNobody!.previewText).toBe('');
    // Three shapes (preview text or none, image links usable or not), each compiled once.
    expect(compiledEmailStats()).toMatchObject({ steps: 1, uncompilable: 0 });
    expect(compiledEmailStats().compiles).toBeLessThanOrEqual(3);
  });

  it('fill the plain-text part of text and list blocks from a text compiled once, values that need it rendered per email', async () => {
    const blocks = normalizeBlocks([
      { type: 'text', text: 'Plan: <b>{{event.plan}}</b>, {{subscriber.firstName|friend}}!<br>Total {{event.total}}' },
      { type: 'list', items: ['{{event.plan}} plan', 'for {{subscriber.email}}'], ordered: true },
      { type: 'text', text: 'See <a href="https://example.com">{{event.plan}}</a>' },
    ]);
    const memo: TextMemo = new WeakMap();
    const plan = (value: unknown, firstName: string | null = 'Ada'): MergeTagContext => ({
      subscriber: { email: 'ada@example.com', firstName, lastName: null, attributes: {} },
      event: { plan: value, total: 42.5 },
      discount: null,
    });
    const values = ['pro', 'Tea&Co', '<b>x</b>', '"quoted"', '  padded', 'two words', 'tab\tbed', 'nbsp\u00a0x', 'zero\u200bwidth', '', null, 12, { a: 1 }];
    for (const value of values) {
      for (const firstName of ['Ada', null, ' ', 'Ann Marie']) {
        const ctx = plan(value, firstName);
        expect(bodyText(blocks, ctx, '#unsubscribe', memo)).toBe(bodyText(blocks, ctx, '#unsubscribe'));
      }
    }
    // The text and list blocks were compiled; the one with a link was not.
    expect(typeof memo.get(blocks[0] as ColumnBlock)).toBe('function');
    expect(typeof memo.get(blocks[1] as ColumnBlock)).toBe('function');
    expect(memo.get(blocks[2] as ColumnBlock)).toBeNull();
  });

  it('fill a template stored by another process (its own slot tokens) without compiling', async () => {
    const step = { id: '0196b4a0-0000-7000-8000-0000000000aa', subject: 'Hello {{subscriber.firstName}}', previewText: 'Your code: {{discount.code}}', blocks: MERGE_HEAVY };
    await expectIdentical(step, ada);
    const [stored, ...more] = takeUnstored();
    expect(more).toEqual([]);
    expect(stored!.stepId).toBe(step.id);
    // Another process's tokens: another nonce.
    const other = 'sw0123456789';
    const template = JSON.parse(JSON.stringify(stored!.template).replaceAll(SLOT_NONCE, other));
    expect(template.nonce).toBe(other);
    clearCompiledSteps();
    const withStored = { ...step, compiled: { [stored!.key]: template } };
    for (const context of [ada, grace]) {
      const options = { context, transactional: false, workspaceId: WORKSPACE, messageId: `0196b4a0-0000-7000-8000-${String(++message).padStart(12, '0')}`, keys };
      expect(await renderTrackedStep(withStored, options)).toEqual(await renderTrackedStepOnce(step, options));
    }
    expect(compiledEmailStats().compiles).toBe(0);
    // Stored for another version of the step: not used.
    clearCompiledSteps();
    await renderTrackedStep({ ...withStored, subject: 'Changed' }, { context: ada, transactional: false, workspaceId: WORKSPACE, messageId: `0196b4a0-0000-7000-8000-${String(++message).padStart(12, '0')}`, keys });
    expect(compiledEmailStats().compiles).toBe(1);
  });

  it('compiles a step version once, and drops it when the step changes', async () => {
    const step = { id: 'versioned', subject: 'Hi {{subscriber.firstName|there}}', previewText: null, blocks: [{ type: 'text', text: 'Version one' }] };
    for (const context of [ada, grace, nobody, ada]) await expectIdentical(step, context);
    expect(compiledEmailStats()).toMatchObject({ steps: 1, compiles: 1 });

    const changed = { ...step, blocks: [{ type: 'text', text: 'Version two' }] };
    const email = await expectIdentical(changed, ada);
    expect(email.html).toContain('Version two');
    expect(email.html).not.toContain('Version one');
    expect(compiledEmailStats()).toMatchObject({ steps: 1, compiles: 2 });
  });
});
