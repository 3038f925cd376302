import { describe, expect, it } from 'vitest';
import { drained } from '../helpers/jobs.js';
import { useTrackingEngine } from './setup.js';

const t = await useTrackingEngine();

async function eventCounts() {
  const rows = await t.prisma.messageEvent.groupBy({ by: ['type'], _count: { _all: true } });
  return Object.fromEntries(rows.map((r) => [r.type, r._count._all]));
}

describe('open and click tracking', () => {
  it('rewrites links, redirects to the original URL, and counts a message once however often it is opened', async () => {
    const sequenceId = await t.sequence('opens');
    await t.enroll('opens', 'ada@example.com');
    const [mail] = await t.smtp.waitFor(1);
    const html = mail!.html as string;
    const { pixel, clicks, unsubscribe } = t.links(html);
    expect(pixel.startsWith(`${t.base}/t/o/`)).toBe(true);
    expect(clicks).toHaveLength(2);
    expect(html).not.toContain('href="https://example.com');
    expect(unsubscribe.startsWith(`${t.base}/t/u/`)).toBe(true);

    for (let i = 0; i < 3; i++) {
      const res = await fetch(pixel);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe('image/gif');
      expect((await res.arrayBuffer()).byteLength).toBeGreaterThan(0);
    }
    const targets = [];
    for (const click of [clicks[0]!, clicks[0]!, clicks[1]!]) {
      const res = await fetch(click, { redirect: 'manual' });
      expect(res.status).toBe(302);
      targets.push(res.headers.get('location'));
    }
    expect(targets).toEqual(['https://example.com/pricing?plan=pro&ref=mail', 'https://example.com/pricing?plan=pro&ref=mail', 'https://example.com/start']);

    expect(await t.stats(sequenceId)).toMatchObject({ sent: 1, opened: 1, clicked: 1, optedOut: 0 });
    expect(await eventCounts()).toMatchObject({ OPEN: 3, CLICK: 3 });
    const message = await t.prisma.message.findFirstOrThrow({ where: { to: 'ada@example.com' } });
    expect(message.status).toBe('CLICKED');
    // A late open does not move the status back (once written: the pixel is answered before).
    await fetch(pixel);
    await t.app.tracking.settled();
    expect(await eventCounts()).toMatchObject({ OPEN: 4, CLICK: 3 });
    expect((await t.prisma.message.findUniqueOrThrow({ where: { id: message.id } })).status).toBe('CLICKED');
    expect(await t.stats(sequenceId)).toMatchObject({ opened: 1, clicked: 1 });
  });

  it('refuses forged and altered links with 404 and records nothing', async () => {
    const before = await eventCounts();
    const [mail] = t.smtp.messages;
    const { pixel, clicks, unsubscribe } = t.links(mail!.html as string);
    const click = new URL(clicks[0]!);
    const flip = (s: string) => s.replace(/\/([A-Za-z0-9_-]{22})(\.gif)?$/, (_m, sig: string, gif = '') => `/${sig[0] === 'A' ? 'B' : 'A'}${sig.slice(1)}${gif}`);
    const otherMessage = (u: string) => u.replace(/\/t\/([ocu])\/[0-9a-f]{32}\//, '/t/$1/0196b4a0c0de7000800000000000beef/');
    const forged = [
      flip(pixel), // signature changed
      otherMessage(pixel), // someone else's message with this signature
      `${click.origin}${flip(click.pathname)}${click.search}`,
      `${click.origin}${click.pathname}?u=${encodeURIComponent('https://evil.example/phish')}`, // open redirect attempt
      `${click.origin}${click.pathname}`, // no destination
      flip(unsubscribe),
      otherMessage(unsubscribe),
      `${t.base}/t/c/not-a-message/x?u=https://evil.example`,
    ];
    for (const url of forged) {
      const res = await fetch(url, { redirect: 'manual' });
      expect(res.status, url).toBe(404);
      expect(res.headers.get('location')).toBeNull();
    }
    const post = await fetch(flip(unsubscribe), { method: 'POST', body: 'List-Unsubscribe=One-Click', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    expect(post.status).toBe(404);
    expect(await eventCounts()).toEqual(before);
    expect((await t.prisma.subscriber.findFirstOrThrow({ where: { email: 'ada@example.com' } })).status).toBe('ACTIVE');
  });
});

describe('unsubscribing', () => {
  it('the footer link asks first, then its button unsubscribes and the next email is not sent', async () => {
    const sequenceId = await t.sequence('unsub-link');
    const runId = await t.enroll('unsub-link', 'grace@example.com');
    const mail = (await t.smtp.waitFor(2)).find((m) => m.to && JSON.stringify(m.to).includes('grace@example.com'))!;
    const { unsubscribe } = t.links(mail.html as string);
    expect(mail.text).toContain(`Unsubscribe: ${unsubscribe}`);

    const page = await fetch(unsubscribe);
    expect(page.status).toBe(200);
    const body = await page.text();
    expect(body).toContain('<form method="post"');
    // Opening the link (as a mail scanner would) changes nothing.
    expect((await t.prisma.subscriber.findFirstOrThrow({ where: { email: 'grace@example.com' } })).status).toBe('ACTIVE');

    const confirmed = await fetch(unsubscribe, { method: 'POST', body: 'confirm=yes', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    expect(confirmed.status).toBe(200);
    expect(await confirmed.text()).toContain('You are unsubscribed');
    const subscriber = await t.prisma.subscriber.findFirstOrThrow({ where: { email: 'grace@example.com' } });
    expect(subscriber).toMatchObject({ status: 'UNSUBSCRIBED' });
    expect(subscriber.unsubscribedAt).not.toBeNull();
    const run = await t.prisma.enrollment.findFirstOrThrow({ where: { subscriberId: subscriber.id } });
    expect(run).toMatchObject({ status: 'STOPPED', cancelReason: 'unsubscribed' });

    // The second email falls due; wait until its job has been worked before checking it was not sent.
    await drained(t.prisma);
    await t.advance(2 * 86_400_000);
    await drained(t.prisma);
    expect(t.smtp.messages.filter((m) => JSON.stringify(m.to).includes('grace@example.com'))).toHaveLength(1);
    expect(await t.stats(sequenceId)).toMatchObject({ sent: 1, optedOut: 1, stopped: 1 });
    const seen = await t.ws.gql(`query($id: ID!) { enrollment(id: $id) { status cancelReason history { status step { position } } } }`, { id: runId });
    expect(seen.data.enrollment).toEqual({ status: 'STOPPED', cancelReason: 'unsubscribed', history: [{ status: 'SENT', step: { position: 1 } }] });
  });

  it('RFC 8058 one-click: the List-Unsubscribe headers and a POST of List-Unsubscribe=One-Click', async () => {
    const sequenceId = await t.sequence('one-click');
    await t.enroll('one-click', 'alan@example.com');
    const mail = await t.until(async () => t.smtp.messages.find((m) => JSON.stringify(m.to).includes('alan@example.com')));
    const headerLine = (name: string) => mail.headerLines.find((h) => h.key === name)?.line.replace(/\r?\n\s+/g, ' ');
    const listUnsubscribe = headerLine('list-unsubscribe')!;
    const { unsubscribe } = t.links(mail.html as string);
    expect(listUnsubscribe).toContain(unsubscribe);
    expect(headerLine('list-unsubscribe-post')).toBe('List-Unsubscribe-Post: List-Unsubscribe=One-Click');

    const res = await fetch(unsubscribe, {
      method: 'POST',
      body: 'List-Unsubscribe=One-Click',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(res.status).toBe(200);
    const subscriber = await t.prisma.subscriber.findFirstOrThrow({ where: { email: 'alan@example.com' } });
    expect(subscriber.status).toBe('UNSUBSCRIBED');
    // Posting twice is harmless and still counts one opt-out.
    await fetch(unsubscribe, { method: 'POST', body: 'List-Unsubscribe=One-Click' });
    await drained(t.prisma);
    await t.advance(2 * 86_400_000);
    await drained(t.prisma);
    expect(t.smtp.messages.filter((m) => JSON.stringify(m.to).includes('alan@example.com'))).toHaveLength(1);
    expect(await t.stats(sequenceId)).toMatchObject({ sent: 1, optedOut: 1, stopped: 1 });
  });

  it('a new enrollment of an unsubscribed subscriber sends nothing', async () => {
    await t.enroll('one-click', 'alan@example.com');
    const skipped = await t.until(() => t.prisma.stepRun.findFirst({ where: { status: 'SKIPPED', enrollment: { subscriber: { email: 'alan@example.com' } } } }));
    expect(skipped.error).toBe('subscriber is unsubscribed');
    expect(t.smtp.messages.filter((m) => JSON.stringify(m.to).includes('alan@example.com'))).toHaveLength(1);
  });
});
