// Readiness, metrics, request ids and logs of the HTTP server.
import { Writable } from 'node:stream';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createWorkspaceWithKey } from '../../src/auth/api-keys.js';
import { createLogger } from '../../src/logger.js';
import { buildApp } from '../../src/server/app.js';
import { useTestApp } from '../helpers/app.js';
import { waitFor } from '../helpers/wait-for.js';

const t = await useTestApp();
let base: string;
beforeAll(async () => {
  base = `http://127.0.0.1:${await t.app.start(0, '127.0.0.1')}`;
});

const post = (body: unknown, headers: Record<string, string> = {}) =>
  fetch(`${base}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });

/** The value of one sample of the exposition text, or undefined. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const ok = Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`));
    if (ok) return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return undefined;
}

it('/healthz answers while the process is up; /readyz checks database, migrations and the job queue', async () => {
  expect(await (await fetch(`${base}/healthz`)).json()).toEqual({ status: 'ok' });
  const ready = await fetch(`${base}/readyz`);
  expect(ready.status).toBe(200);
  expect(await ready.json()).toEqual({
    status: 'ready',
    checks: { database: { ok: true }, migrations: { ok: true }, jobQueue: { ok: true }, accepting: { ok: true } },
  });
});

it('/readyz is 503 naming the migration when one in prisma/migrations is not applied', async () => {
  // Readiness checks are reused for READINESS_CACHE_MS (test/server/safe-defaults.test.ts); here every hit checks.
  const app = buildApp({ runtime: t.runtime, logger: createLogger('silent'), settings: { READINESS_CACHE_MS: 0 } });
  afterAll(() => app.stop());
  const base = `http://127.0.0.1:${await app.start(0, '127.0.0.1')}`;
  const [last] = await t.prisma.$queryRawUnsafe<{ migration_name: string; id: string }[]>(
    'SELECT id, migration_name FROM _prisma_migrations ORDER BY migration_name DESC LIMIT 1',
  );
  await t.prisma.$executeRawUnsafe('UPDATE _prisma_migrations SET rolled_back_at = now() WHERE id = $1', last!.id);
  try {
    const res = await fetch(`${base}/readyz`);
    expect(res.status).toBe(503);
    const body = (await res.json()) as any;
    expect(body.status).toBe('not ready');
    expect(body.checks.migrations).toEqual({ ok: false, error: `not applied: ${last!.migration_name}` });
    expect(body.checks.database).toEqual({ ok: true });
  } finally {
    await t.prisma.$executeRawUnsafe('UPDATE _prisma_migrations SET rolled_back_at = NULL WHERE id = $1', last!.id);
  }
  expect((await fetch(`${base}/readyz`)).status).toBe(200);
});

it('/readyz is 503 when the database cannot be reached', async () => {
  const { createPrismaClient } = await import('../../src/db/client.js');
  const u = new URL(t.url);
  u.pathname = '/stepwise_no_such_database';
  const broken = createPrismaClient(u.toString());
  const app = buildApp({ runtime: { ...t.runtime, db: broken }, logger: createLogger('silent') });
  afterAll(async () => {
    await app.stop();
    await broken.$disconnect();
  });
  const port = await app.start(0, '127.0.0.1');
  const res = await fetch(`http://127.0.0.1:${port}/readyz`);
  expect(res.status).toBe(503);
  const body = (await res.json()) as any;
  expect(body.checks.database.ok).toBe(false);
  expect(body.checks.database.error).not.toContain('postgres://');
  expect(body.checks.database.error).not.toContain('postgresql://');

  // An unexpected failure (here: the key lookup) is masked: no SQL, no stack, a request id.
  const { key } = await createWorkspaceWithKey(t.prisma, 'Masked');
  const masked = await fetch(`http://127.0.0.1:${port}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${key}`, 'x-request-id': 'req-masked-1' },
    body: JSON.stringify({ query: '{ lists { id } }' }),
  });
  const text = await masked.text();
  expect(masked.headers.get('x-request-id')).toBe('req-masked-1');
  const json = JSON.parse(text);
  expect(json.errors[0].message).toBe('Unexpected error.');
  expect(json.errors[0].extensions.requestId).toBe('req-masked-1');
  expect(text).not.toMatch(/stack|SELECT|stepwise_no_such_database|at \w+ \(/);
});

it('/metrics: HTTP and GraphQL counts and latencies, jobs and lag per queue, subscriptions, emails', async () => {
  const ws = await t.workspace();
  await ws.gql('{ lists { id } }');
  await ws.gql('mutation { createList(name: "M") { id } }');
  await ws.gql('{ nope }');
  const created = await ws.gql(`mutation { createSequence(input: { name: "Metrics", trigger: MANUAL, steps: [
    { subject: "Hi", delay: { days: 1 }, blocks: [{ type: "text", text: "1" }] }] }) { sequence { id } } }`);
  const sequenceId = created.data.createSequence.sequence.id;
  await ws.gql('mutation($id: ID!) { enableSequence(id: $id) { errors { message } } }', { id: sequenceId });
  await ws.gql('mutation($input: EnrollSubscriberInput!) { enrollSubscriber(input: $input) { errors { message } } }', {
    input: { sequenceId, subscriber: { email: 'metrics@x.io' } },
  });
  // A sent and a failed message, as the worker would leave them.
  for (const [status, sentAt] of [['SENT', 'now()'], ['FAILED', 'NULL']] as const) {
    await t.prisma.$executeRawUnsafe(
      `INSERT INTO "Message" (id, "workspaceId", "to", subject, html, status, "smtpMessageId", "sentAt")
       VALUES (gen_random_uuid(), $1::uuid, 'a@x.io', 's', '<p>', '${status}', gen_random_uuid()::text, ${sentAt})`,
      ws.workspaceId,
    );
  }
  // A due job that nobody runs (no workers here): its age is the queue's lag.
  await t.prisma.$executeRawUnsafe(
    `UPDATE pgboss.job SET start_after = now() - interval '90 seconds' WHERE name = 'stepwise.step' AND state = 'created'`,
  );

  const port = new URL(base).port;
  const client = createClient({ url: `ws://127.0.0.1:${port}/graphql`, webSocketImpl: WebSocket, connectionParams: { Authorization: `Bearer ${ws.key}` }, retryAttempts: 0 });
  afterAll(() => client.dispose());
  const subscribed = new Promise<() => void>((resolve) => {
    const unsubscribe = client.subscribe(
      { query: 'subscription { enrollmentChanged(after: "0") { cursor } }' },
      { next: () => resolve(unsubscribe), error: () => {}, complete: () => {} },
    );
  });
  const unsubscribe = await subscribed;

  const res = await fetch(`${base}/metrics`);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toContain('text/plain');
  const text = await res.text();
  expect(sample(text, 'stepwise_http_requests_total', { method: 'GET', route: '/readyz', status: '200' })).toBeGreaterThanOrEqual(1);
  expect(text).toContain('stepwise_http_request_duration_seconds_bucket{');
  expect(sample(text, 'stepwise_graphql_operations_total', { type: 'query', field: 'lists', outcome: 'ok' })).toBeGreaterThanOrEqual(1);
  expect(sample(text, 'stepwise_graphql_operations_total', { type: 'mutation', field: 'createList', outcome: 'ok' })).toBe(1);
  expect(sample(text, 'stepwise_graphql_operation_duration_seconds_count', { type: 'mutation', field: 'createList' })).toBe(1);
  expect(sample(text, 'stepwise_graphql_refused_total', { stage: 'validate' })).toBeGreaterThanOrEqual(1);
  expect(sample(text, 'stepwise_jobs', { queue: 'stepwise.step', state: 'created' })).toBe(1);
  expect(sample(text, 'stepwise_job_lag_seconds', { queue: 'stepwise.step' })).toBeGreaterThanOrEqual(89);
  expect(sample(text, 'stepwise_active_subscriptions')).toBe(1);
  expect(sample(text, 'stepwise_emails', { status: 'sent' })).toBe(1);
  expect(sample(text, 'stepwise_emails', { status: 'failed' })).toBe(1);
  expect(text).toContain('stepwise_process_cpu_user_seconds_total');

  unsubscribe();
  await waitFor(async () => sample(await (await fetch(`${base}/metrics`)).text(), 'stepwise_active_subscriptions') === 0, {
    timeout: 5_000,
    interval: 100,
    message: 'the closed subscription no longer counted',
  });
});

it('request ids: taken from x-request-id (or made), echoed, in error extensions and JSON logs; keys never logged', async () => {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      lines.push(...chunk.toString().split('\n').filter(Boolean));
      done();
    },
  });
  const app = buildApp({ runtime: t.runtime, logger: createLogger('info', sink) });
  afterAll(() => app.stop());
  const port = await app.start(0, '127.0.0.1');
  const { key } = await createWorkspaceWithKey(t.prisma, 'Logs');
  const call = (query: string, headers: Record<string, string>) =>
    fetch(`http://127.0.0.1:${port}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${key}`, ...headers }, body: JSON.stringify({ query }) });

  const given = await call('{ lists { id } }', { 'x-request-id': 'abc-123' });
  expect(given.headers.get('x-request-id')).toBe('abc-123');
  const made = await call('{ nope }', {});
  const madeId = made.headers.get('x-request-id')!;
  expect(madeId).toMatch(/^[0-9a-f-]{36}$/);
  expect(((await made.json()) as any).errors[0].extensions.requestId).toBe(madeId);
  // A header that is not a sane token (log injection) is replaced.
  const odd = await call('{ lists { id } }', { 'x-request-id': 'a b\tc' });
  expect(odd.headers.get('x-request-id')).not.toBe('a b\tc');

  // The access log line is written when the response ends; wait for the three requests' lines.
  const access = await waitFor(() => {
    const found = lines.map((l) => JSON.parse(l)).filter((e) => e.msg === 'request');
    return found.length >= 3 ? found : null;
  }, { message: 'three access log lines' });
  expect(access.find((e) => e.requestId === 'abc-123')).toMatchObject({ method: 'POST', route: '/graphql', status: 200 });
  expect(access.find((e) => e.requestId === madeId)).toMatchObject({ method: 'POST', route: '/graphql', status: made.status });
  expect(lines.join('\n')).not.toContain(key);
});
