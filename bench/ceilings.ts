// The ceilings: what the bare machinery under Stepwise does on this machine, in
// the same run and on the same Postgres as the engine figures, so every engine
// figure can be read as a share of what is possible here.
//
//   queue   raw pg-boss: no-op jobs fetched and completed, batch 1,000 × 4 workers
//   commits one-row INSERT transactions over 16 connections (pgbench -N's shape)
//   http    a bare graphql-yoga + pg endpoint (no ORM, no rules): one mutation
//           shaped like trackEvent records a subscriber, an event, a run and a
//           job in one SQL statement; driven like trackEvent (bench/generator.ts)
//   smtp    nodemailer's pool sending ready-made emails to the bench SMTP sink
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { createSchema, createYoga } from 'graphql-yoga';
import { JSONResolver } from 'graphql-scalars';
import nodemailer from 'nodemailer';
import pg from 'pg';
import PgBoss from 'pg-boss';
import { countTracked, drive, quantile, trackEventVariables, TRACK_EVENT } from './generator.js';
import type { BenchSmtpSink } from './smtp-sink.js';
import type { Ceiling, Row } from './report.js';

export interface CeilingOptions {
  queueJobs: number;
  commitSeconds: number;
  httpCalls: number;
  inFlight: number;
  smtpEmails: number;
}

export async function queueCeiling(url: string, jobs: number, rows: Row[]): Promise<Ceiling> {
  const boss = new PgBoss({ connectionString: url, schema: 'ceiling_boss', max: 8, schedule: false, supervise: false });
  boss.on('error', (error) => console.error('pg-boss (ceiling)', error));
  await boss.start();
  try {
    const queue = 'noop';
    await boss.createQueue(queue);
    for (let i = 0; i < jobs; i += 5_000) {
      await boss.insert(Array.from({ length: Math.min(5_000, jobs - i) }, () => ({ name: queue, data: {} })));
    }
    let done = 0;
    const started = performance.now();
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        for (;;) {
          const batch = await boss.fetch(queue, { batchSize: 1_000 });
          if (!batch.length) return;
          await boss.complete(queue, batch.map((j) => j.id));
          done += batch.length;
        }
      }),
    );
    const perSecond = done / ((performance.now() - started) / 1000);
    if (done !== jobs) throw new Error(`queue ceiling: ${done} of ${jobs} jobs worked`);
    rows.push({ measure: 'queue: pg-boss no-op jobs, batch 1,000 × 4 workers', value: `${jobs.toLocaleString('en')} jobs, ${Math.round(perSecond)}/s` });
    return { name: 'pg-boss batch', value: perSecond, unit: 'jobs/s' };
  } finally {
    await boss.stop({ graceful: false, wait: true, timeout: 2_000 });
  }
}

export async function commitCeiling(url: string, seconds: number, rows: Row[]): Promise<Ceiling> {
  const setup = new pg.Client({ connectionString: url });
  await setup.connect();
  await setup.query('CREATE TABLE IF NOT EXISTS ceiling_commit (id bigserial PRIMARY KEY, v int NOT NULL, at timestamptz NOT NULL DEFAULT now())');
  await setup.end();
  const clients = await Promise.all(
    Array.from({ length: 16 }, async () => {
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      return client;
    }),
  );
  let commits = 0;
  const started = performance.now();
  const deadline = started + seconds * 1000;
  await Promise.all(
    clients.map(async (client, c) => {
      while (performance.now() < deadline) {
        await client.query('INSERT INTO ceiling_commit (v) VALUES ($1)', [c]);
        commits += 1;
      }
    }),
  );
  const perSecond = commits / ((performance.now() - started) / 1000);
  await Promise.all(clients.map((c) => c.end()));
  rows.push({ measure: 'commits: one-row INSERT transactions, 16 connections', value: `${Math.round(perSecond)}/s over ${seconds} s` });
  return { name: 'pg commits', value: perSecond, unit: 'tx/s' };
}

const CEILING_SCHEMA = /* GraphQL */ `
  scalar JSON
  input TrackEventInput { email: String!, event: String!, properties: JSON }
  type Run { id: ID! }
  type UserError { message: String! }
  type TrackEventPayload { enrollments: [Run!]! errors: [UserError!]! }
  type Query { ok: Boolean }
  type Mutation { trackEvent(input: TrackEventInput!): TrackEventPayload! }
`;

/** Subscriber (upserted by email), event, run and job in one statement. */
const RECORD = `
  WITH s AS (
    INSERT INTO ceiling_subscriber (email) VALUES ($1)
    ON CONFLICT (email) DO UPDATE SET updated_at = now() RETURNING id
  ), e AS (
    INSERT INTO ceiling_event (subscriber_id, name, properties) SELECT id, $2, $3::jsonb FROM s RETURNING id, subscriber_id
  ), r AS (
    INSERT INTO ceiling_run (subscriber_id, event_id) SELECT subscriber_id, id FROM e RETURNING id
  ), j AS (
    INSERT INTO ceiling_job (run_id, start_after) SELECT id, now() FROM r RETURNING run_id
  )
  SELECT run_id AS id FROM j`;

export async function httpCeiling(url: string, options: { calls: number; inFlight: number }, rows: Row[]): Promise<Ceiling> {
  const pool = new pg.Pool({ connectionString: url, max: 20 });
  await pool.query(`
    CREATE TABLE IF NOT EXISTS ceiling_subscriber (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), email text NOT NULL UNIQUE, updated_at timestamptz NOT NULL DEFAULT now());
    CREATE TABLE IF NOT EXISTS ceiling_event (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), subscriber_id uuid NOT NULL REFERENCES ceiling_subscriber, name text NOT NULL, properties jsonb, at timestamptz NOT NULL DEFAULT now());
    CREATE TABLE IF NOT EXISTS ceiling_run (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), subscriber_id uuid NOT NULL REFERENCES ceiling_subscriber, event_id uuid NOT NULL REFERENCES ceiling_event, status text NOT NULL DEFAULT 'ACTIVE');
    CREATE TABLE IF NOT EXISTS ceiling_job (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), run_id uuid NOT NULL REFERENCES ceiling_run, start_after timestamptz NOT NULL);`);
  const yoga = createYoga({
    schema: createSchema({
      typeDefs: CEILING_SCHEMA,
      resolvers: {
        JSON: JSONResolver,
        Mutation: {
          trackEvent: async (_root: unknown, { input }: { input: { email: string; event: string; properties?: unknown } }) => {
            const { rows: runs } = await pool.query<{ id: string }>(RECORD, [input.email, input.event, JSON.stringify(input.properties ?? {})]);
            return { enrollments: runs, errors: [] };
          },
        },
      },
    }),
    logging: false,
    graphiql: false,
  });
  const server = createServer(yoga);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const { port } = server.address() as AddressInfo;
    const result = await drive({
      endpoint: `http://127.0.0.1:${port}/graphql`,
      document: TRACK_EVENT,
      calls: options.calls,
      inFlight: options.inFlight,
      variables: trackEventVariables('ceiling', 'bench.signed_up'),
      count: countTracked,
    });
    rows.push({
      measure: `http: bare graphql-yoga + pg trackEvent, ${options.inFlight} in flight`,
      value: `${Math.round(result.perSecond)} runs/s, p50 ${quantile(result.latencies, 0.5).toFixed(0)} ms / p99 ${quantile(result.latencies, 0.99).toFixed(0)} ms`,
    });
    return { name: 'bare yoga+pg', value: result.perSecond, unit: 'runs/s' };
  } finally {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await pool.end();
  }
}

/** A ready-made email about the size of a rendered Stepwise email (MJML output is table-heavy). */
function readyMadeEmail(i: number) {
  const row = `<tr><td style="padding:8px 24px;font-family:Helvetica,Arial,sans-serif;font-size:16px;line-height:24px;color:#1f2937">Paragraph text of the email, with a <a href="https://example.com/t/c/${i}" style="color:#2563eb">link</a>.</td></tr>`;
  return {
    from: 'Stepwise Bench <bench@stepwise.local>',
    to: `ceiling${i}@example.com`,
    subject: `Ready-made ${i}`,
    html: `<!doctype html><html><body><table role="presentation" width="100%">${row.repeat(40)}</table></body></html>`,
    text: 'Paragraph text of the email, with a link.\n'.repeat(40),
    messageId: `<ceiling-${i}@stepwise.local>`,
  };
}

export async function smtpCeiling(sink: BenchSmtpSink, emails: number, rows: Row[]): Promise<Ceiling> {
  sink.reset();
  const transport = nodemailer.createTransport({ host: sink.host, port: sink.port, secure: false, ignoreTLS: true, pool: true });
  const mails = Array.from({ length: emails }, (_, i) => readyMadeEmail(i));
  try {
    const started = performance.now();
    await Promise.all(mails.map((mail) => transport.sendMail(mail)));
    const perSecond = emails / ((performance.now() - started) / 1000);
    if (new Set(sink.messageIds).size !== emails) throw new Error(`smtp ceiling: ${sink.messageIds.length} of ${emails} emails arrived`);
    rows.push({ measure: 'smtp: nodemailer pool (5 connections), ready-made emails', value: `${emails.toLocaleString('en')} emails, ${Math.round(perSecond)}/s` });
    return { name: 'nodemailer pool', value: perSecond, unit: 'emails/s' };
  } finally {
    transport.close();
    sink.reset();
  }
}
