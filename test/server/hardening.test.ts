// Limits of the GraphQL endpoint: depth, aliases, tokens, directives, cost,
// body size, CSRF, introspection and GraphiQL off, per-key rate limit (429 +
// Retry-After) — over HTTP and WebSocket.
import { request } from 'node:http';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createWorkspaceWithKey } from '../../src/auth/api-keys.js';
import { createLogger } from '../../src/logger.js';
import { buildApp } from '../../src/server/app.js';
import { useTestRuntime } from '../helpers/runtime.js';

// Writes schedule jobs in their transactions, so the API needs pg-boss.
const { prisma, runtime } = await useTestRuntime();

const app = buildApp({
  runtime,
  logger: createLogger('silent'),
  settings: {
    GRAPHQL_MAX_DEPTH: 4,
    GRAPHQL_MAX_ALIASES: 2,
    GRAPHQL_MAX_TOKENS: 80,
    GRAPHQL_MAX_DIRECTIVES: 2,
    GRAPHQL_MAX_COST: 30,
    MAX_BODY_BYTES: 2048,
    RATE_LIMIT_PER_MINUTE: 5,
    GRAPHQL_INTROSPECTION: false,
    GRAPHIQL: false,
  },
});
let port: number;
beforeAll(async () => {
  port = await app.start(0, '127.0.0.1');
});
afterAll(() => app.stop());

async function key() {
  return (await createWorkspaceWithKey(prisma, 'Hardening')).key;
}

async function post(k: string, body: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(`http://127.0.0.1:${port}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${k}`, ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: res.status, headers: res.headers, body: (await res.json()) as any };
}

const deep = '{ sequences { edges { node { steps { id } } } } }'; // depth 5
const aliased = '{ a: lists { id } b: lists { id } c: lists { id } }';
const tokens = `query(${Array.from({ length: 25 }, (_, i) => `$v${i}: Int`).join(' ')}) { lists { id } }`;
const directives = '{ lists @include(if: true) { id @include(if: true) name @skip(if: false) } }';
const costly = '{ a: sequences { edges { node { id name slug status stepCount } } } b: subscribers { edges { node { id email } } } }';

const cases: [string, string, RegExp][] = [
  ['depth', deep, /depth limit of 4/i],
  ['aliases', aliased, /aliases limit of 2/i],
  ['tokens', tokens, /token limit of 80/i],
  ['directives', directives, /directives limit of 2/i],
  ['cost', costly, /cost limit of 30 exceeded, found 4\d/i],
];

describe.each(cases)('a document over the %s limit', (_name, query, message) => {
  it('is refused over HTTP with a clear error, before executing', async () => {
    const k = await key();
    const res = await post(k, { query });
    expect(res.body.data).toBeUndefined();
    expect(res.body.errors.map((e: any) => e.message)).toContainEqual(expect.stringMatching(message));
  });

  it('is refused over WebSocket for that operation, the socket stays open', async () => {
    const k = await key();
    const client = createClient({ url: `ws://127.0.0.1:${port}/graphql`, webSocketImpl: WebSocket, connectionParams: { Authorization: `Bearer ${k}` }, retryAttempts: 0 });
    afterAll(() => client.dispose());
    const errors = await new Promise<any[]>((resolve, reject) => {
      client.subscribe({ query }, { next: (r) => reject(new Error(`executed: ${JSON.stringify(r)}`)), error: (e) => (Array.isArray(e) ? resolve(e) : reject(Object.assign(new Error('not GraphQL errors: ' + String((e as any)?.code) + ' ' + String((e as any)?.reason) + ' ' + String(e)), { cause: e, code: (e as any)?.code, reason: (e as any)?.reason }))), complete: () => reject(new Error('completed')) });
    });
    expect(errors.map((e: any) => e.message)).toContainEqual(expect.stringMatching(message));
    // The same connection still answers a small operation.
    const ok = await new Promise<any>((resolve, reject) => {
      client.subscribe({ query: '{ lists { id } }' }, { next: resolve, error: reject, complete: () => {} });
    });
    expect(ok).toEqual({ data: { lists: [] } });
  });
});

it('documents within the limits run', async () => {
  const k = await key();
  expect((await post(k, { query: '{ a: lists { id } b: lists { name } }' })).body).toEqual({ data: { a: [], b: [] } });
});

it('a body over MAX_BODY_BYTES is refused with 413 before it is read', async () => {
  const k = await key();
  const res = await post(k, { query: '{ lists { id } }', variables: { pad: 'x'.repeat(4000) } });
  expect(res.status).toBe(413);
  expect(res.body.errors[0]).toEqual({
    message: expect.stringMatching(/too large.*at most 2048/),
    extensions: { code: 'PAYLOAD_TOO_LARGE' },
  });
});

it('a chunked body (no Content-Length) is refused with 411 before it is read, however little it holds', async () => {
  // Yoga's own stream limit is off (src/server/app.ts): this check is the only bound on a body.
  const k = await key();
  const answer = await new Promise<{ status: number; body: any }>((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, path: '/graphql', method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${k}` } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode!, body: JSON.parse(Buffer.concat(chunks).toString()) }));
      },
    );
    req.on('error', reject);
    // Two writes before the end: Node sends them chunked.
    req.write('{"query":');
    req.end('"{ lists { id } }"}');
  });
  expect(answer.status).toBe(411);
  expect(answer.body.errors[0].extensions).toEqual({ code: 'LENGTH_REQUIRED' });
});

it('CSRF: a browser "simple" request (GET without a preflight header) is refused; JSON POSTs pass', async () => {
  const k = await key();
  const res = await fetch(`http://127.0.0.1:${port}/graphql?query=${encodeURIComponent('{ lists { id } }')}`, {
    headers: { authorization: `Bearer ${k}`, accept: 'application/json' },
  });
  expect(res.status).toBe(403);
  expect(await res.text()).toMatch(/CSRF/i);
  const allowed = await fetch(`http://127.0.0.1:${port}/graphql?query=${encodeURIComponent('{ lists { id } }')}`, {
    headers: { authorization: `Bearer ${k}`, accept: 'application/json', 'x-graphql-yoga-csrf': '1' },
  });
  expect(allowed.status).toBe(200);
});

it('introspection and GraphiQL can be switched off', async () => {
  const k = await key();
  const res = await post(k, { query: '{ __schema { queryType { name } } }' });
  expect(res.body.data).toBeUndefined();
  expect(res.body.errors[0].message).toMatch(/introspection/i);
  const page = await fetch(`http://127.0.0.1:${port}/graphql`, { headers: { accept: 'text/html' } });
  expect(await page.text()).not.toContain('GraphiQL');
});

it('rate limit per API key: over RATE_LIMIT_PER_MINUTE gets 429 with Retry-After; other keys are not affected', async () => {
  const k = await key();
  for (let i = 0; i < 5; i++) expect((await post(k, { query: '{ lists { id } }' })).status).toBe(200);
  const refused = await post(k, { query: '{ lists { id } }' });
  expect(refused.status).toBe(429);
  const retryAfter = Number(refused.headers.get('retry-after'));
  expect(retryAfter).toBeGreaterThanOrEqual(1);
  expect(retryAfter).toBeLessThanOrEqual(60);
  expect(refused.body.errors[0]).toMatchObject({
    message: expect.stringMatching(/rate limit/i),
    extensions: { code: 'RATE_LIMITED', retryAfter },
  });
  expect(refused.body.errors[0].extensions.requestId).toBeTruthy();
  // Another key has its own budget.
  expect((await post(await key(), { query: '{ lists { id } }' })).status).toBe(200);

  // The same budget covers WebSocket operations: refused for that operation, the socket stays.
  const client = createClient({ url: `ws://127.0.0.1:${port}/graphql`, webSocketImpl: WebSocket, connectionParams: { Authorization: `Bearer ${k}` }, retryAttempts: 0 });
  afterAll(() => client.dispose());
  const errors = await new Promise<any[]>((resolve, reject) => {
    client.subscribe({ query: '{ lists { id } }' }, { next: (r) => reject(new Error(`executed: ${JSON.stringify(r)}`)), error: (e) => resolve(e as any[]), complete: () => reject(new Error('completed')) });
  });
  expect(errors[0]).toMatchObject({ message: expect.stringMatching(/rate limit/i), extensions: { code: 'RATE_LIMITED' } });
});

it('errors carry a code and a request id, never internal extensions', async () => {
  const res = await post('sk_not_a_key_at_all', { query: '{ lists { id } }' });
  expect(res.status).toBe(401);
  expect(res.body.errors[0]).toEqual({
    message: 'Invalid API key',
    extensions: { code: 'UNAUTHENTICATED', requestId: res.headers.get('x-request-id') },
  });
  const limited = await post(await key(), { query: deep });
  expect(limited.body.errors[0].extensions).toEqual({ code: 'QUERY_LIMIT_EXCEEDED', requestId: limited.headers.get('x-request-id') });
});

it('a string with a NUL character (which Postgres cannot store) is refused as bad input, nothing written', async () => {
  const k = await key();
  const res = await post(k, { query: 'mutation($n: String!) { createList(name: $n) { id } }', variables: { n: 'a\u0000b' } });
  expect(res.status).toBe(200);
  expect(res.body.errors[0]).toMatchObject({ message: expect.stringMatching(/NUL/), extensions: { code: 'BAD_USER_INPUT' } });
  expect(await prisma.list.count()).toBe(0);
});
