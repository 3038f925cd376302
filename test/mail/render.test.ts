import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { normalizeBlocks, type BlockInput } from '../../src/domain/blocks.js';
import type { MergeTagContext } from '../../src/domain/merge-tags.js';
import { renderEmail, renderInlineHtml, renderUrl, type RenderEmailInput } from '../../src/mail/render.js';

const context: MergeTagContext = {
  subscriber: {
    email: 'ada+news@example.com',
    firstName: 'Ada',
    lastName: 'Lovelace',
    attributes: { bio: '<script>alert("x")</script>', company: 'Tea & Co' },
  },
  event: { url: 'https://shop.example.com/orders/42?src=mail', id: 'o 42', bad: 'javascript:alert(1)', img: 'https://cdn.example.com/o.png' },
  discount: { code: 'SAVE10', percentOff: 10, amountOff: null, currency: null, expiresAt: null },
};

function render(blocks: BlockInput[], overrides: Partial<RenderEmailInput> = {}) {
  return renderEmail({
    subject: 'Hello {{subscriber.firstName}}',
    previewText: 'Your code: {{discount.code}}',
    blocks: normalizeBlocks(blocks),
    context,
    unsubscribeUrl: 'https://app.example.com/u/tok123',
    transactional: false,
    ...overrides,
  });
}

describe('renderEmail', () => {
  it('is async and returns responsive HTML, text, subject and preview text', async () => {
    const pending = render([{ type: 'text', text: 'Hi' }]);
    expect(pending).toBeInstanceOf(Promise);
    const email = await pending;
    expect(email.subject).toBe('Hello Ada');
    expect(email.previewText).toBe('Your code: SAVE10');
    expect(email.html).toMatch(/^<!doctype html>/i);
    expect(email.html).toContain('<title>Hello Ada</title>');
    expect(email.html).toContain('Your code: SAVE10'); // mj-preview
    expect(email.html).toContain('@media only screen'); // responsive styles
    expect(email.html).not.toContain('fonts.googleapis.com');
    expect(email.html).not.toMatch(/<\/?mj-/);
  });

  it('renders every block type to HTML and text', async () => {
    const { html, text } = await render([
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
    ]);

    expect(html).toContain('<h2 style="margin:0;font-size:22px;">Welcome, Ada!</h2>');
    expect(html).toContain('We are <b>glad</b> you are <em>here</em>.<br>See <a href="https://example.com/docs"');
    expect(html).toMatch(/align="center"[^>]*>\s*<div[^>]*color:#6b7280[^>]*>We are/);
    expect(html).toMatch(/href="https:\/\/shop\.example\.com\/orders\/42\?src=mail"[^>]*>\s*Track order/);
    expect(html).toMatch(/<a\s+href="https:\/\/example\.com\/hero"[^>]*>\s*<img\s+alt="Hero for Ada" src="https:\/\/cdn\.example\.com\/hero\.png"[^>]*width="320"/);
    expect(html).toContain('<ul style="margin:0;padding-left:24px;"><li>Free shipping</li><li>Easy <b>returns</b></li></ul>');
    expect(html).toContain('<ol style="margin:0;padding-left:24px;"><li>First</li><li>Second</li></ol>');
    expect(html).toMatch(/border-top:solid 1px #e5e7eb/); // divider
    expect(html).toMatch(/height:40px/); // spacer
    expect(html).toContain('<table class="legacy"><tr><td>Imported for ada+news@example.com</td></tr></table>');
    expect(html).toContain('Sent to ada+news@example.com.<br><a href="https://app.example.com/u/tok123"');
    expect(html).not.toContain('{{');

    expect(text).toBe(
      [
        'Welcome, Ada!',
        'We are glad you are here.\nSee the docs (https://example.com/docs).',
        'Track order: https://shop.example.com/orders/42?src=mail',
        'Hero for Ada: https://example.com/hero',
        '- Free shipping\n- Easy returns',
        '1. First\n2. Second',
        '---',
        'Imported for ada+news@example.com',
        'Sent to ada+news@example.com.\nUnsubscribe: https://app.example.com/u/tok123',
      ].join('\n\n') + '\n',
    );
  });

  it('escapes subscriber data in HTML but keeps it verbatim in text', async () => {
    const { html, text } = await render([
      { type: 'heading', text: '{{subscriber.attributes.bio}}' },
      { type: 'text', text: 'About you: <i>{{subscriber.attributes.bio}}</i> at {{subscriber.attributes.company}}' },
      { type: 'button', text: '{{subscriber.attributes.bio}}', url: 'https://example.com' },
      { type: 'image', src: 'https://cdn.example.com/a.png', alt: '{{subscriber.attributes.bio}}' },
      { type: 'list', items: ['{{subscriber.attributes.bio}}'] },
      { type: 'html', html: '<p>{{subscriber.attributes.bio}}</p>' },
    ]);
    expect(html).not.toContain('<script>');
    expect(html).not.toContain('alert("x")');
    expect(html).toContain('<i>&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;</i> at Tea &amp; Co');
    expect(html).toContain('alt="&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;"');
    expect(text).toContain('About you: <script>alert("x")</script> at Tea & Co');
  });

  it('sanitizes inline HTML to the allowed tags', () => {
    const out = renderInlineHtml(
      '<p class="x">Hi <B>bold</B> <span style="color:red">span</span><script>evil()</script><style>p{}</style><!-- note --> <a href="javascript:alert(1)" onclick="x()">bad</a> <img src=x onerror=alert(1)> 1 < 2 & 3 &amp; 4</p>',
      context,
    );
    expect(out).toBe(
      'Hi <b>bold</b> span <a href="#" style="color:#2563eb;" target="_blank">bad</a>  1 &lt; 2 &amp; 3 &amp; 4',
    );
  });

  it('renders merge tags in URLs, encoding values in the query and refusing unsafe schemes', async () => {
    expect(renderUrl('{{event.url}}', context)).toBe('https://shop.example.com/orders/42?src=mail');
    expect(renderUrl('https://example.com/o?id={{event.id}}&e={{subscriber.email}}', context)).toBe(
      'https://example.com/o?id=o%2042&e=ada%2Bnews%40example.com',
    );
    expect(renderUrl('{{event.url}}&code={{discount.code}}', context)).toBe('https://shop.example.com/orders/42?src=mail&code=SAVE10');
    expect(renderUrl('{{event.bad}}', context)).toBe('#');
    expect(renderUrl('{{event.missing}}', context)).toBe('#');
    expect(renderUrl('{{event.missing|https://example.com}}', context)).toBe('https://example.com');

    const { html, text } = await render([
      { type: 'button', text: 'Reorder', url: 'https://example.com/r?code={{discount.code}}&to={{subscriber.email}}' },
      { type: 'image', src: '{{event.img}}', alt: 'Order', href: '{{event.bad}}' },
      { type: 'text', text: '<a href="{{event.url}}&amp;x=1">Order {{event.id}}</a>' },
    ]);
    expect(html).toContain('href="https://example.com/r?code=SAVE10&amp;to=ada%2Bnews%40example.com"');
    expect(html).toContain('src="https://cdn.example.com/o.png"');
    expect(html).not.toMatch(/<a\s+href="#"/); // an unsafe image link is dropped
    expect(text).toMatch(/^Order$/m);
    expect(html).toContain('<a href="https://shop.example.com/orders/42?src=mail&amp;x=1" style="color:#2563eb;" target="_blank">Order o 42</a>');
    expect(text).toContain('Reorder: https://example.com/r?code=SAVE10&to=ada%2Bnews%40example.com');
    expect(text).toContain('Order o 42 (https://shop.example.com/orders/42?src=mail&x=1)');
    expect(html + text).not.toContain('{{');
  });

  it('appends an unsubscribe footer to non-transactional emails without one', async () => {
    const { html, text } = await render([{ type: 'text', text: 'Hi' }]);
    expect(html).toContain('You are receiving this because you subscribed.<br><a href="https://app.example.com/u/tok123"');
    expect(html).toMatch(/>Unsubscribe<\/a>/);
    expect(text).toBe('Hi\n\nYou are receiving this because you subscribed.\nUnsubscribe: https://app.example.com/u/tok123\n');
  });

  it('uses #unsubscribe when there is no unsubscribe URL yet', async () => {
    const { html, text } = await render([{ type: 'text', text: 'Hi' }], { unsubscribeUrl: null });
    expect(html).toContain('<a href="#unsubscribe"');
    expect(text).toContain('Unsubscribe: #unsubscribe');
  });

  it('does not add a second footer when the blocks have one (even in columns)', async () => {
    const own = await render([{ type: 'text', text: 'Hi' }, { type: 'footer', text: 'Custom footer' }]);
    expect(own.html.match(/>Unsubscribe</g)).toHaveLength(1);
    expect(own.html).not.toContain('You are receiving this');
    expect(own.text).toContain('Custom footer\nUnsubscribe: https://app.example.com/u/tok123');

    const nested = await render([
      { type: 'columns', columns: [[{ type: 'text', text: 'Hi' }], [{ type: 'footer' }]] },
    ]);
    expect(nested.html.match(/>Unsubscribe</g)).toHaveLength(1);
  });

  it('adds no footer to transactional emails, but renders one that is present', async () => {
    const bare = await render([{ type: 'text', text: 'Your receipt' }], { transactional: true });
    expect(bare.html).not.toContain('Unsubscribe');
    expect(bare.text).toBe('Your receipt\n');

    const withFooter = await render([{ type: 'text', text: 'Receipt' }, { type: 'footer' }], { transactional: true, unsubscribeUrl: null });
    expect(withFooter.html).toContain('<a href="#unsubscribe"');
    expect(withFooter.text).toContain('Unsubscribe: #unsubscribe');
  });

  it('lays out columns side by side', async () => {
    const { html, text } = await render([
      { type: 'heading', text: 'Picks' },
      {
        type: 'columns',
        columns: [
          [{ type: 'image', src: 'https://cdn.example.com/tea.png', alt: 'Tea' }, { type: 'text', text: 'Green tea' }],
          [{ type: 'text', text: 'Dark roast' }, { type: 'html', html: '<p>raw in column</p>' }],
          [{ type: 'button', text: 'Shop', url: 'https://example.com/shop' }],
        ],
      },
    ]);
    expect(html.match(/class="mj-column-per-33-333333333333336 mj-outlook-group-fix"/g)).toHaveLength(3);
    const order = ['Picks', 'alt="Tea"', 'Green tea', 'Dark roast', '<p>raw in column</p>', 'https://example.com/shop'].map((s) =>
      html.indexOf(s),
    );
    expect(order.every((i) => i >= 0)).toBe(true);
    expect([...order].sort((a, b) => a - b)).toEqual(order);
    expect(text).toContain('Picks\n\nTea\n\nGreen tea\n\nDark roast\n\nraw in column\n\nShop: https://example.com/shop');

    const two = await render([{ type: 'columns', columns: [[{ type: 'text', text: 'A' }], [{ type: 'text', text: 'B' }]] }]);
    expect(two.html.match(/class="mj-column-per-50 mj-outlook-group-fix"/g)).toHaveLength(2);
  });

  it('keeps a whole imported document as its sanitised body content (head, styles and title dropped)', async () => {
    const { html, text } = await render(
      [{ type: 'html', html: '<!doctype html><html><head><title>Old</title><style>.x{color:red}</style></head><body class="b"><p class="x">Hello {{subscriber.firstName}}</p></body></html>' }],
      { transactional: true },
    );
    expect(html).toContain('<p class="x">Hello Ada</p>');
    expect(html).not.toContain('.x{color:red}');
    expect(html).not.toContain('<body class="b">');
    expect(html).not.toContain('<title>Old</title>');
    expect(html.match(/<!doctype/gi)).toHaveLength(1);
    expect(text).toBe('Hello Ada\n');
  });

  it('never lets raw HTML or data break out through the placeholder mechanism', async () => {
    const { html } = await render([
      { type: 'heading', text: '<!--stepwise-raw-0--> literal' },
      { type: 'text', text: 'x <!--stepwise-raw-0--> y' },
      { type: 'html', html: '<b>raw</b></mj-raw></mj-body><!--stepwise-raw-0-->' },
    ]);
    expect(html).toContain('&lt;!--stepwise-raw-0--&gt; literal');
    expect(html).toContain('x  y'); // comments are dropped from inline HTML
    expect(html).not.toContain('</mj-raw>'); // unknown tags do not survive the sanitiser
    expect(html.match(/<b>raw<\/b>/g)).toHaveLength(1);
  });

  it('keeps subject and preview text on one line, with merge tags in text mode', async () => {
    const email = await render([{ type: 'text', text: 'x' }], {
      subject: '{{subscriber.attributes.company}}\r\nBcc: evil@example.com',
      previewText: null,
    });
    expect(email.subject).toBe('Tea & Co Bcc: evil@example.com');
    expect(email.previewText).toBe('');
    expect(email.html).toContain('<title>Tea &amp; Co Bcc: evil@example.com</title>');
  });

  it('rejects an invalid block list before rendering, with a useful path', () => {
    try {
      normalizeBlocks([
        { type: 'heading', text: 'Hi' },
        { type: 'text', text: 'x' },
        { type: 'button', text: 'Go', url: 'not a url' },
      ]);
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(z.ZodError);
      expect((error as z.ZodError).issues.map((i) => i.path)).toContainEqual([2, 'url']);
    }
  });
});
