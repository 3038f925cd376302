// Hostile HTML in email content is neutralised everywhere it can surface: in what
// is stored, in the GraphQL preview, on the /preview page (served with a strict
// CSP) and in the email a real SMTP server receives. Preview links never redirect,
// and a tracking link signed for one workspace does nothing for another's message.
import { beforeAll, describe, expect, it } from 'vitest';
import { trackingUrl } from '../../src/domain/tracking-links.js';
import { PREVIEW_CSP } from '../../src/server/preview-route.js';
import { useTestEngine } from '../helpers/engine.js';

const t = await useTestEngine();
let ws: Awaited<ReturnType<typeof t.workspace>>;
let base: string;

/** Each payload as an html block; the merge-tag one gets `javascript:` from the event's properties. */
const HOSTILE_HTML = {
  script: '<p>script</p><script>alert("script")</script>',
  onerror: '<img src="https://cdn.example.com/x.png" alt="x" onerror="alert(\'onerror\')">',
  javascriptHref: '<a href="javascript:alert(\'href\')">js link</a>',
  mergeTagHref: '<a href="{{event.url}}">tag link</a>',
  iframeSrcdoc: '<iframe srcdoc="&lt;script&gt;alert(\'srcdoc\')&lt;/script&gt;"></iframe><p>after iframe</p>',
  base: '<base href="https://evil.example/"><p>after base</p>',
  metaRefresh: '<meta http-equiv="refresh" content="0;url=https://evil.example/"><p>after meta</p>',
};
const HOSTILE_TEXT = [
  'Hi <img src=x onerror="alert(\'inline\')"><a href="javascript:alert(\'inline-href\')">inline js</a><script>alert("inline")</script>',
  'Order: <a href="{{event.url}}">inline tag link</a>',
];
const PROPERTIES = { url: 'javascript:alert("merge")' };

const PREVIEW = `query($id: ID!, $email: String, $props: JSON) {
  previewSequence(sequenceId: $id, email: $email, properties: $props) { step { id } html text } }`;

function expectNeutralised(html: string) {
  expect(html).not.toMatch(/<script/i);
  expect(html).not.toMatch(/alert\(/);
  expect(html).not.toMatch(/\son[a-z]+\s*=/i);
  expect(html).not.toMatch(/javascript:/i);
  expect(html).not.toMatch(/<iframe|srcdoc/i);
  expect(html).not.toMatch(/<base\b/i);
  expect(html).not.toMatch(/http-equiv="?refresh/i);
  expect(html).not.toContain('evil.example');
  // The merge tag that rendered `javascript:` became an inert link; the content around the payloads stays.
  expect(html).toMatch(/<a href="#"[^>]*>tag link<\/a>/);
  expect(html).toMatch(/<a href="#"[^>]*>inline tag link<\/a>/);
  for (const kept of ['after iframe', 'after base', 'after meta', 'js link', 'inline js']) expect(html).toContain(kept);
}

async function createSequence(name: string, blocks: unknown[], gql = ws.gql) {
  const res = await gql(`mutation($input: CreateSequenceInput!) { createSequence(input: $input) { sequence { id steps { id blocks } } errors { field message } } }`, {
    input: { name, trigger: 'EVENT_RECEIVED', eventName: `${name}.start`, steps: [{ subject: 'Hello', blocks }] },
  });
  expect(res.data.createSequence.errors).toEqual([]);
  return res.data.createSequence.sequence as { id: string; steps: { id: string; blocks: unknown }[] };
}

async function enableAndStart(gql: typeof ws.gql, sequenceId: string, name: string, email: string, properties: unknown) {
  expect((await gql(`mutation($id: ID!) { enableSequence(id: $id) { errors { message } } }`, { id: sequenceId })).data.enableSequence.errors).toEqual([]);
  const res = await gql(`mutation($input: TrackEventInput!) { trackEvent(input: $input) { errors { message } } }`, {
    input: { email, event: `${name}.start`, properties },
  });
  expect(res.data.trackEvent.errors).toEqual([]);
}

const hrefs = (html: string) => [...html.matchAll(/href="([^"]+)"/g)].map((m) => m[1]!.replaceAll('&amp;', '&'));

beforeAll(async () => {
  const port = await t.app.start(0, '127.0.0.1');
  base = `http://127.0.0.1:${port}`;
  t.runtime.tracking.configure({ publicUrl: base });
  ws = await t.workspace();
});

describe('hostile HTML', () => {
  const blocks = [
    ...Object.values(HOSTILE_HTML).map((html) => ({ type: 'html', html })),
    ...HOSTILE_TEXT.map((text) => ({ type: 'text', text })),
  ];
  let sequence: Awaited<ReturnType<typeof createSequence>>;

  beforeAll(async () => {
    sequence = await createSequence('hostile', blocks);
  });

  it('is sanitised when stored', () => {
    const stored = JSON.stringify(sequence.steps[0]!.blocks);
    expect(stored).not.toMatch(/<script|alert|onerror|javascript|<iframe|srcdoc|<base|<meta|evil\.example/i);
    expect(stored).toContain('{{event.url}}'); // checked once rendered, below
  });

  it('is neutralised in the GraphQL preview', async () => {
    const res = await ws.gql(PREVIEW, { id: sequence.id, email: 'ada@example.com', props: PROPERTIES });
    expect(res.errors).toBeUndefined();
    expectNeutralised(res.data.previewSequence[0].html);
    expect(res.data.previewSequence[0].text).not.toMatch(/javascript:/i);
  });

  it('is neutralised on the /preview page, which is served with a strict Content-Security-Policy', async () => {
    const res = await fetch(`${base}/preview/${sequence.steps[0]!.id}?email=ada@example.com`, { headers: { authorization: `Bearer ${ws.key}` } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-security-policy')).toBe(PREVIEW_CSP);
    expect(PREVIEW_CSP).toMatch(/default-src 'none'/);
    expect(PREVIEW_CSP).not.toMatch(/script-src|unsafe-eval/);
    expect(PREVIEW_CSP).toMatch(/base-uri 'none'/);
    expect(PREVIEW_CSP).toMatch(/(^|; )sandbox($|;)/);
    expectNeutralised(await res.text());
  });

  it('is neutralised even in content stored before sanitising existed (rendering validates again)', async () => {
    const legacy = await createSequence('legacy', [{ type: 'text', text: 'placeholder' }]);
    // What an older version could have stored: written straight to the table, past the API.
    await t.prisma.step.update({ where: { id: await stepUuid(legacy.steps[0]!.id) }, data: { blocks } });
    const res = await ws.gql(PREVIEW, { id: legacy.id, email: 'ada@example.com', props: PROPERTIES });
    expectNeutralised(res.data.previewSequence[0].html);
  });

  it('is neutralised in the email at the SMTP server, and the unsubscribe page sends a CSP', async () => {
    await enableAndStart(ws.gql, sequence.id, 'hostile', 'grace@example.com', PROPERTIES);
    const [mail] = await t.smtp.waitFor(1);
    expectNeutralised(mail!.html as string);
    expect(mail!.text).not.toMatch(/javascript:|alert\(/i);

    const unsubscribe = hrefs(mail!.html as string).find((h) => h.includes('/t/u/'))!;
    const page = await fetch(unsubscribe);
    expect(page.status).toBe(200);
    const csp = page.headers.get('content-security-policy')!;
    expect(csp).toMatch(/default-src 'none'/);
    expect(csp).toMatch(/form-action 'self'/);
    expect(csp).not.toMatch(/script-src/);
  });
});

/** The database id behind a public Step id. */
async function stepUuid(publicId: string): Promise<string> {
  const { tryDecodeId } = await import('../../src/domain/public-id.js');
  return tryDecodeId('Step', publicId)!;
}

describe('preview links', () => {
  it('never redirect, whatever URL the preview was given; a sent email’s links do', async () => {
    const sequence = await createSequence('links', [{ type: 'button', text: 'Go', url: '{{event.url}}' }]);
    const target = 'https://phish.example/login';
    const res = await ws.gql(PREVIEW, { id: sequence.id, email: 'ada@example.com', props: { url: target } });
    const click = hrefs(res.data.previewSequence[0].html).find((h) => h.includes('/t/c/'))!;
    expect(new URL(click).searchParams.get('u')).toBe(target); // the link shows where it would lead...

    const preview = await fetch(click, { redirect: 'manual' });
    expect(preview.status).toBe(200); // ...but does not go there
    expect(preview.headers.get('location')).toBeNull();
    expect(await preview.text()).toContain('preview');
    const head = await fetch(click, { method: 'HEAD', redirect: 'manual' });
    expect(head.headers.get('location')).toBeNull();

    // The same step sent for real: its link redirects, once the message exists.
    await enableAndStart(ws.gql, sequence.id, 'links', 'linus@example.com', { url: 'https://example.com/real' });
    const mail = (await t.smtp.waitFor(2)).find((m) => JSON.stringify(m.to).includes('linus@example.com'))!;
    const sent = hrefs(mail.html as string).find((h) => h.includes('/t/c/'))!;
    const redirect = await fetch(sent, { redirect: 'manual' });
    expect(redirect.status).toBe(302);
    expect(redirect.headers.get('location')).toBe('https://example.com/real');
  });
});

describe('tracking links', () => {
  it('signed for workspace A do nothing for a message of workspace B', async () => {
    const other = await t.workspace('Other workspace');
    const sequence = await createSequence('theirs', [{ type: 'button', text: 'Go', url: 'https://example.com/theirs' }], other.gql);
    await enableAndStart(other.gql, sequence.id, 'theirs', 'bob@example.com', {});
    await t.smtp.waitFor(3);
    const message = await t.prisma.message.findFirstOrThrow({ where: { to: 'bob@example.com' } });
    expect(message.workspaceId).toBe(other.workspaceId);
    const keys = await t.runtime.tracking.keys();
    const events = () => t.prisma.messageEvent.count({ where: { messageId: message.id } });

    const forA = (kind: 'open' | 'click' | 'unsubscribe') =>
      trackingUrl(keys, { kind, workspaceId: ws.workspaceId, messageId: message.id, ...(kind === 'click' ? { url: 'https://phish.example/' } : {}) });
    const click = await fetch(forA('click'), { redirect: 'manual' });
    expect(click.status).toBe(404);
    expect(click.headers.get('location')).toBeNull();
    expect((await fetch(forA('open'))).status).toBe(200); // the pixel is always an image...
    await t.app.tracking.settled(); // (the pixel is answered before its open is written)
    const unsubscribe = await fetch(forA('unsubscribe'), { method: 'POST', body: 'List-Unsubscribe=One-Click', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    expect(await unsubscribe.text()).toContain('nobody was unsubscribed');
    // ...but nothing was recorded for B's message, and B's subscriber is still subscribed.
    expect(await events()).toBe(0);
    const after = await t.prisma.message.findUniqueOrThrow({ where: { id: message.id } });
    expect(after).toMatchObject({ openedAt: null, clickedAt: null, unsubscribedAt: null });
    expect((await t.prisma.subscriber.findFirstOrThrow({ where: { email: 'bob@example.com', workspaceId: other.workspaceId } })).status).toBe('ACTIVE');

    // The same link signed for B, the message's own workspace, works.
    const own = await fetch(trackingUrl(keys, { kind: 'click', workspaceId: other.workspaceId, messageId: message.id, url: 'https://example.com/theirs' }), { redirect: 'manual' });
    expect(own.status).toBe(302);
    expect(await events()).toBe(1);
  });
});
