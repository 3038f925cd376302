// Safe defaults: a local start listens on loopback; the development key is only
// put in a GraphiQL page served to a loopback client (a request relayed by a
// proxy for another address does not count); /metrics can require a token and
// reuses its whole-deployment counts; /readyz reuses its checks; one API key may
// hold a bounded number of open subscriptions (WebSocket and SSE together).
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createWorkspaceWithKey } from '../../src/auth/api-keys.js';
import { parseConfig } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { buildApp, type App } from '../../src/server/app.js';
import { forwardedAddresses, isLoopbackAddress, isLoopbackRequest } from '../../src/server/loopback.js';
import { useTestRuntime } from '../helpers/runtime.js';
import { waitFor } from '../helpers/wait-for.js';

const statements: string[] = [];
const { prisma, url, runtime } = await useTestRuntime({ onQuery: (sql) => statements.push(sql) });
const apps: App[] = [];
afterAll(async () => {
  for (const app of apps) await app.stop();
});

async function serve(options: Omit<Parameters<typeof buildApp>[0], 'runtime' | 'logger'> = {}) {
  const app = buildApp({ runtime, logger: createLogger('silent'), ...options, settings: { RATE_LIMIT_PER_MINUTE: 0, ...options.settings } });
  apps.push(app);
  const port = await app.start(0, '127.0.0.1');
  return { app, base: `http://127.0.0.1:${port}`, port };
}

describe('listening address', () => {
  it('is 127.0.0.1 on the embedded default, 0.0.0.0 with DATABASE_URL, HOST when set', () => {
    expect(parseConfig({}).HOST).toBe('127.0.0.1');
    expect(parseConfig({ DATABASE_URL: 'postgresql://db/stepwise' }).HOST).toBe('0.0.0.0');
    expect(parseConfig({ HOST: '0.0.0.0' }).HOST).toBe('0.0.0.0');
    expect(parseConfig({ HOST: '::1', DATABASE_URL: 'postgresql://db/stepwise' }).HOST).toBe('::1');
  });
});

describe('loopback clients', () => {
  it('knows loopback addresses', () => {
    for (const a of ['127.0.0.1', '127.8.9.10', '::1', '::ffff:127.0.0.1', '[::1]']) expect(isLoopbackAddress(a), a).toBe(true);
    for (const a of ['10.0.0.1', '192.168.1.5', '::ffff:10.0.0.1', 'fe80::1', '0.0.0.0', 'localhost', 'unknown', '', undefined]) {
      expect(isLoopbackAddress(a), String(a)).toBe(false);
    }
  });

  it('reads every address a proxy names (Forwarded, X-Forwarded-For, X-Real-IP)', () => {
    expect(forwardedAddresses({ forwarded: 'for=192.0.2.60;proto=http, for="[2001:db8::1]:4711"' })).toEqual(['192.0.2.60', '2001:db8::1']);
    expect(forwardedAddresses({ 'x-forwarded-for': '203.0.113.7:5000, 127.0.0.1' })).toEqual(['203.0.113.7', '127.0.0.1']);
    expect(forwardedAddresses({ forwarded: 'proto=https' })).toEqual(['unknown']);
    const socket = { remoteAddress: '127.0.0.1' } as never;
    expect(isLoopbackRequest({ headers: {}, socket })).toBe(true);
    expect(isLoopbackRequest({ headers: { 'x-forwarded-for': '127.0.0.1' }, socket })).toBe(true);
    expect(isLoopbackRequest({ headers: { 'x-forwarded-for': '127.0.0.1, 198.51.100.2' }, socket })).toBe(false);
    expect(isLoopbackRequest({ headers: { 'x-real-ip': '198.51.100.2' }, socket })).toBe(false);
    expect(isLoopbackRequest({ headers: {}, socket: { remoteAddress: '10.1.2.3' } as never })).toBe(false);
    expect(isLoopbackRequest(undefined)).toBe(false);
  });
});

describe('the development key in GraphiQL', () => {
  const devKey = 'sk_dev_key_for_the_graphiql_test_0123';
  let base: string;
  let app: App;
  beforeAll(async () => {
    ({ base, app } = await serve({ graphiqlApiKey: devKey, settings: { GRAPHIQL: true } }));
  });
  const page = async (headers: Record<string, string> = {}) => {
    const res = await fetch(`${base}/graphql`, { headers: { accept: 'text/html', ...headers } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/html');
    return res.text();
  };

  it('is prefilled for a client on this machine', async () => {
    expect(await page()).toContain(devKey);
    expect(await page({ 'x-forwarded-for': '127.0.0.1' })).toContain(devKey);
  });

  it.each([
    ['X-Forwarded-For', { 'x-forwarded-for': '203.0.113.7' }],
    ['X-Forwarded-For through two proxies', { 'x-forwarded-for': '203.0.113.7, 127.0.0.1' }],
    ['Forwarded', { forwarded: 'for=192.0.2.60;proto=https;by=127.0.0.1' }],
    ['Forwarded (IPv6)', { forwarded: 'for="[2001:db8:cafe::17]:4711"' }],
    ['X-Real-IP', { 'x-real-ip': '198.51.100.9' }],
  ])('is absent from a page fetched through a proxy for another address (%s)', async (_name, headers) => {
    const html = await page(headers);
    expect(html).not.toContain(devKey);
    expect(html).toContain('Bearer <your API key>');
  });

  it('is absent when the page is rendered without a socket (yoga.fetch)', async () => {
    const res = await app.yoga.fetch('http://stepwise.test/graphql', { headers: { accept: 'text/html' } });
    const html = await res.text();
    expect(html).toContain('GraphiQL');
    expect(html).not.toContain(devKey);
  });

  it('the page does not point at a CDN (test/server/graphiql-browser.test.ts checks what a browser loads)', async () => {
    const html = await page();
    expect(html).not.toMatch(/unpkg\.com|jsdelivr|cdnjs/);
    // Only the icon is linked, as a data: URL; code and styles are inline.
    expect(html).toMatch(/<link rel="icon" href="data:/);
  });
});

describe('/metrics', () => {
  const token = 'metrics-token-0123456789abcdef';

  it('without METRICS_TOKEN answers anyone', async () => {
    const { base } = await serve();
    const res = await fetch(`${base}/metrics`);
    expect(res.status).toBe(200);
    expect(await res.text()).toContain('stepwise_http_requests_total');
  });

  it('with METRICS_TOKEN answers only its bearer', async () => {
    const { base } = await serve({ settings: { METRICS_TOKEN: token } });
    const none = await fetch(`${base}/metrics`);
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toMatch(/^Bearer/);
    const body = await none.text();
    expect(body).not.toContain('stepwise_');
    expect(body).toContain('METRICS_TOKEN');
    for (const wrong of [`Bearer ${token}x`, `Bearer ${token.slice(0, -1)}`, token, 'Basic abc']) {
      expect((await fetch(`${base}/metrics`, { headers: { authorization: wrong } })).status, wrong).toBe(401);
    }
    const ok = await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${token}` } });
    expect(ok.status).toBe(200);
    expect(await ok.text()).toContain('stepwise_jobs');
    // The other operations routes stay open (load balancers do not send tokens).
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
  });

  it('reuses its whole-deployment counts within METRICS_CACHE_MS: repeated scrapes run no count query', async () => {
    const { workspaceId } = await createWorkspaceWithKey(prisma, 'Metrics cache');
    const failedMessage = () =>
      prisma.$executeRawUnsafe(
        `INSERT INTO "Message" (id, "workspaceId", "to", subject, html, status, "smtpMessageId")
         VALUES (gen_random_uuid(), $1::uuid, 'a@x.io', 's', '<p>', 'FAILED', gen_random_uuid()::text)`,
        workspaceId,
      );
    const failed = (text: string) => Number(/^stepwise_emails\{status="failed"\} (\d+)/m.exec(text)?.[1]);
    const countQueries = () => statements.filter((s) => /count\(\*\)/i.test(s)).length;
    await failedMessage();

    const cached = await serve({ settings: { METRICS_CACHE_MS: 600_000 } });
    statements.length = 0;
    const first = await (await fetch(`${cached.base}/metrics`)).text();
    expect(failed(first)).toBe(1);
    const afterFirst = countQueries();
    expect(afterFirst).toBe(2); // jobs by queue and state, emails by status
    await failedMessage();
    // Concurrent and repeated scrapes within the window: no further count, the figures as cached.
    const again = await Promise.all(Array.from({ length: 5 }, () => fetch(`${cached.base}/metrics`).then((r) => r.text())));
    for (const text of again) expect(failed(text)).toBe(1);
    expect(countQueries()).toBe(afterFirst);

    // A scrape after the window (here: a window of 0) reads the database again.
    const fresh = await serve({ settings: { METRICS_CACHE_MS: 0 } });
    expect(failed(await (await fetch(`${fresh.base}/metrics`)).text())).toBe(2);
  });
});

describe('/readyz', () => {
  it('reuses its database checks within READINESS_CACHE_MS', async () => {
    const { base } = await serve({ settings: { READINESS_CACHE_MS: 600_000 } });
    statements.length = 0;
    const answers = await Promise.all(Array.from({ length: 10 }, () => fetch(`${base}/readyz`)));
    for (const res of answers) expect(res.status).toBe(200);
    expect((await fetch(`${base}/readyz`)).status).toBe(200);
    expect(statements.filter((s) => s.includes('_prisma_migrations'))).toHaveLength(1);
    expect(statements.filter((s) => /^SELECT 1$/.test(s.trim()))).toHaveLength(1);
  });
});

describe('open subscriptions per API key', () => {
  const MAX = 2;
  const SUBSCRIBE = 'subscription { enrollmentChanged(after: "0") { cursor } }';
  let app: App;
  let port: number;
  let base: string;
  const clients: Client[] = [];
  afterAll(() => Promise.all(clients.map((c) => c.dispose())));
  beforeAll(async () => {
    ({ app, port, base } = await serve({ settings: { MAX_SUBSCRIPTIONS_PER_KEY: MAX } }));
  });

  const open = async () => Number((await app.metrics.activeSubscriptions.get()).values[0]?.value ?? 0);
  async function openCount(n: number) {
    let last = -1;
    await waitFor(async () => (last = await open()) === n, { timeout: 5_000, interval: 25, message: () => `${n} open subscriptions (counted ${last})` });
  }

  /** Subscribes over WebSocket; resolves with the first error list, or 'open' once the server counts it. */
  function wsSubscribe(key: string) {
    const client = createClient({ url: `ws://127.0.0.1:${port}/graphql`, webSocketImpl: WebSocket, connectionParams: { Authorization: `Bearer ${key}` }, retryAttempts: 0, lazy: false });
    clients.push(client);
    let unsubscribe = () => {};
    const outcome = new Promise<{ errors?: any[] }>((resolve) => {
      unsubscribe = client.subscribe(
        { query: SUBSCRIBE },
        {
          next: (result) => {
            if (result.errors) resolve({ errors: result.errors as any[] });
          },
          error: (error) => resolve({ errors: Array.isArray(error) ? error : [error] }),
          complete: () => {},
        },
      );
    });
    return { outcome, unsubscribe: () => unsubscribe() };
  }

  function sse(key: string) {
    const controller = new AbortController();
    const response = fetch(`${base}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'text/event-stream', authorization: `Bearer ${key}` },
      body: JSON.stringify({ query: SUBSCRIBE }),
      signal: controller.signal,
    });
    return { response, close: () => controller.abort() };
  }

  /** The first `next` event of an SSE response. */
  async function firstEvent(res: Response): Promise<any> {
    const reader = res.body!.getReader();
    let buffer = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`stream ended: ${buffer}`);
      buffer += new TextDecoder().decode(value);
      const block = buffer.split('\n\n').find((b) => b.includes('event: next'));
      const data = block?.split('\n').find((l) => l.startsWith('data: '));
      if (data) {
        void reader.cancel();
        return JSON.parse(data.slice(6));
      }
    }
  }

  it('refuses the subscription over the cap with a clear error, over WebSocket and SSE; other keys and closed slots are unaffected', async () => {
    const a = (await createWorkspaceWithKey(prisma, 'Cap A')).key;
    const b = (await createWorkspaceWithKey(prisma, 'Cap B')).key;
    const base0 = await open();

    // One over SSE and one over WebSocket fill key A's two slots.
    const first = sse(a);
    expect((await first.response).status).toBe(200);
    await openCount(base0 + 1);
    const second = wsSubscribe(a);
    await openCount(base0 + 2);

    const third = wsSubscribe(a);
    const refused = await third.outcome;
    expect(refused.errors?.[0]).toMatchObject({ extensions: { code: 'SUBSCRIPTION_LIMIT', limit: MAX } });
    expect(refused.errors?.[0].message).toMatch(/Too many open subscriptions for this API key \(the limit is 2\)/);

    const overSse = sse(a);
    const event = await firstEvent(await overSse.response);
    expect(event.errors[0].extensions.code).toBe('SUBSCRIPTION_LIMIT');
    overSse.close();

    // Another key has its own allowance.
    const other = wsSubscribe(b);
    await openCount(base0 + 3);

    // Closing one of A's frees its slot.
    second.unsubscribe();
    await openCount(base0 + 2);
    const again = wsSubscribe(a);
    await openCount(base0 + 3);
    first.close();
    await openCount(base0 + 2);
    again.unsubscribe();
    other.unsubscribe();
    await openCount(base0);
  });
});
