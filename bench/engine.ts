// The engine benchmark: how fast runs start from trackEvent, how fast workers
// execute steps, and how late a step runs after it falls due.
//
// On its own fresh database (bench/database.ts: on DATABASE_URL's server, else an
// embedded Postgres of its own), with a two-email sequence started by an event:
//
//   1. starts   N trackEvent calls (BENCH_IN_FLIGHT at once), workers stopped:
//               runs started per second.
//   2. burst    every run's first step made due at the same instant, then the
//               workers started: steps executed per second while draining.
//   3. paced    every run's second step made due one after the other, at a rate
//               below what phase 2 measured (BENCH_PACE_FRACTION of it): the lag
//               between due time and execution when the workers keep up.
//
// Lag is StepRun.executedAt − StepRun.scheduledAt. Mail goes to the outbox (no
// SMTP), or with BENCH_SMTP=1 to a local SMTP server in this process. Everything
// is on 127.0.0.1; the whole benchmark stops after BENCH_TIME_LIMIT_SECONDS.
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { createWorkspaceWithKey } from '../src/auth/api-keys.js';
import type { PrismaClient } from '../src/generated/prisma/client.js';
import { encodeId } from '../src/domain/public-id.js';
import { startBoss, stopBoss } from '../src/engine/boss.js';
import { QUEUES } from '../src/engine/queues.js';
import { startWorkers } from '../src/engine/workers.js';
import { configureMail } from '../src/mail/transport.js';
import { trackEvent } from '../src/services/runs.js';
import { changeSequenceStatus, createSequence } from '../src/services/sequences.js';
import { benchDatabase } from './database.js';
import { printTable, type Row } from './report.js';

export interface EngineBenchOptions {
  runs: number;
  /** trackEvent calls in flight at once. */
  inFlight: number;
  /** Step jobs worked at once (WORKER_CONCURRENCY). */
  workerConcurrency: number;
  /** Paced phase: offered rate as a fraction of the burst throughput. */
  paceFraction: number;
  timeLimitSeconds: number;
  smtp: boolean;
}

export function engineBenchOptions(env: NodeJS.ProcessEnv = process.env): EngineBenchOptions {
  const num = (name: string, fallback: number) => {
    const value = env[name] === undefined || env[name] === '' ? fallback : Number(env[name]);
    if (!Number.isFinite(value) || value <= 0) throw new Error(`${name} must be a positive number (got ${env[name]})`);
    return value;
  };
  return {
    runs: Math.round(num('BENCH_RUNS', 10_000)),
    inFlight: Math.round(num('BENCH_IN_FLIGHT', 16)),
    workerConcurrency: Math.round(num('WORKER_CONCURRENCY', 10)),
    paceFraction: num('BENCH_PACE_FRACTION', 0.8),
    timeLimitSeconds: num('BENCH_TIME_LIMIT_SECONDS', 900),
    smtp: env.BENCH_SMTP === '1',
  };
}


export async function benchEngine(options: EngineBenchOptions): Promise<Row[]> {
  const rows: Row[] = [];
  const cleanup: (() => Promise<unknown>)[] = [];
  const limit = setTimeout(() => {
    console.error(`engine bench: stopped after the time limit of ${options.timeLimitSeconds}s`);
    printTable(engineTitle(options), rows);
    process.exit(2);
  }, options.timeLimitSeconds * 1000);
  limit.unref();

  try {
    const database = await benchDatabase();
    cleanup.unshift(() => database.close());
    const { url, prisma } = database;
    rows.push({ measure: 'database', value: database.where });
    const sql = new pg.Client({ connectionString: url });
    await sql.connect();
    cleanup.unshift(() => sql.end());
    const instance = await startBoss(url, { schedule: false, supervise: false });
    cleanup.unshift(() => stopBoss({ graceful: false, timeout: 2000 }));

    if (options.smtp) {
      const { startSmtpSink } = await import('../test/helpers/smtp-sink.js');
      const sink = await startSmtpSink();
      cleanup.unshift(() => sink.close());
      configureMail({ smtpUrl: sink.url, from: 'Stepwise Bench <bench@stepwise.local>' });
    } else {
      configureMail({ from: 'Stepwise Bench <bench@stepwise.local>' });
    }

    const { workspaceId } = await createWorkspaceWithKey(prisma, 'Bench');
    const actor = { workspaceId };
    const sequenceId = await createSequence(actor, {
      name: 'Bench',
      trigger: 'EVENT_RECEIVED',
      eventName: 'bench.signed_up',
      steps: [
        { subject: 'Welcome {{subscriber.firstName|friend}}', blocks: [{ type: 'heading', text: 'Hello' }, { type: 'text', text: 'Plan: {{event.plan}}' }] },
        { subject: 'Day two', delay: { days: 1 }, blocks: [{ type: 'text', text: 'Still on {{event.plan}}?' }, { type: 'button', text: 'Open', url: 'https://example.com' }] },
      ],
    });
    await changeSequenceStatus(actor, encodeId('Sequence', sequenceId), 'enable');
    const [first, second] = await prisma.step.findMany({ where: { sequenceId }, orderBy: { position: 'asc' } });

    // 1. Starts.
    let next = 0;
    let refused = 0;
    const startT0 = performance.now();
    let cpu = process.cpuUsage();
    await Promise.all(
      Array.from({ length: options.inFlight }, async () => {
        while (next < options.runs) {
          const i = next++;
          const tracked = await trackEvent(actor, { email: `bench${i}@example.com`, event: 'bench.signed_up', properties: { plan: i % 2 ? 'pro' : 'free' } });
          if (tracked.enrollmentIds.length !== 1) refused += 1;
        }
      }),
    );
    const startSeconds = (performance.now() - startT0) / 1000;
    if (refused) throw new Error(`${refused} trackEvent calls started no run`);
    rows.push({ measure: 'runs started (trackEvent)', value: `${options.runs} in ${startSeconds.toFixed(1)} s` });
    rows.push({ measure: 'runs started per second', value: (options.runs / startSeconds).toFixed(0) });
    rows.push({ measure: 'starts: CPU of this process', value: cpuText(process.cpuUsage(cpu), startSeconds) });

    // 2. Burst: all first steps due now, then the workers start.
    const releasedAt = new Date();
    cpu = process.cpuUsage();
    await sql.query(`UPDATE "Enrollment" SET "nextTriggerAt" = $1::timestamp(3) WHERE "sequenceId" = $2`, [pgUtc(releasedAt), sequenceId]);
    await startWorkers(instance, { concurrency: options.workerConcurrency });
    await waitForSteps(prisma, first!.id, options.runs);
    const burstCpu = process.cpuUsage(cpu);
    const burst = await stepTimes(prisma, first!.id);
    const burstSeconds = (Math.max(...burst.map((s) => s.executedAt)) - releasedAt.getTime()) / 1000;
    const throughput = options.runs / burstSeconds;
    rows.push({ measure: 'burst: steps executed', value: `${options.runs} in ${burstSeconds.toFixed(1)} s` });
    rows.push({ measure: 'burst: steps executed per second', value: throughput.toFixed(0) });
    rows.push({ measure: 'burst: lag median / p99 (queue wait)', value: lagText(burst) });
    rows.push({ measure: 'burst: CPU of this process', value: cpuText(burstCpu, burstSeconds) });

    // 3. Paced: second steps fall due one after another, below the measured throughput.
    const rate = throughput * options.paceFraction;
    const pacedT0 = new Date(Date.now() + 1000);
    const { rows: ranked } = await sql.query<{ id: string }>(`SELECT id FROM "Enrollment" WHERE "sequenceId" = $1 ORDER BY id`, [sequenceId]);
    const due = ranked.map((_, i) => new Date(pacedT0.getTime() + (i / rate) * 1000));
    await sql.query(
      `UPDATE "Enrollment" e SET "nextTriggerAt" = v.due FROM unnest($1::uuid[], $2::timestamp(3)[]) AS v(id, due) WHERE e.id = v.id`,
      [ranked.map((r) => r.id), due.map(pgUtc)],
    );
    const moved = await sql.query(
      `UPDATE pgboss.job j SET start_after = v.due FROM unnest($1::uuid[], $2::timestamptz[]) AS v(id, due)
       WHERE j.name = $3 AND j.state = 'created' AND j.data->>'enrollmentId' = v.id::text AND j.data->>'stepId' = $4`,
      [ranked.map((r) => r.id), due.map((d) => d.toISOString()), QUEUES.step, second!.id],
    );
    if (moved.rowCount !== options.runs) throw new Error(`expected ${options.runs} waiting jobs, moved ${moved.rowCount}`);
    await waitForSteps(prisma, second!.id, options.runs);
    const paced = await stepTimes(prisma, second!.id);
    const pacedSeconds = (Math.max(...paced.map((s) => s.executedAt)) - pacedT0.getTime()) / 1000;
    rows.push({ measure: 'paced: offered rate (steps/s)', value: `${rate.toFixed(0)} (${Math.round(options.paceFraction * 100)}% of burst)` });
    rows.push({ measure: 'paced: steps executed per second', value: (options.runs / pacedSeconds).toFixed(0) });
    rows.push({ measure: 'paced: lag median / p99 (due → sent)', value: lagText(paced) });

    const completed = await prisma.enrollment.count({ where: { sequenceId, status: 'COMPLETED' } });
    const messages = await prisma.message.count({ where: { enrollment: { sequenceId }, status: 'SENT' } });
    rows.push({ measure: 'runs completed / messages sent', value: `${completed} / ${messages}` });
    if (completed !== options.runs || messages !== options.runs * 2) throw new Error('not every run completed with its two messages');
  } finally {
    for (const step of cleanup) await step().catch((error) => console.error('engine bench cleanup:', error));
    clearTimeout(limit);
  }
  printTable(engineTitle(options), rows);
  return rows;
}

async function waitForSteps(prisma: PrismaClient, stepId: string, count: number) {
  for (;;) {
    const done = await prisma.stepRun.count({ where: { stepId } });
    if (done >= count) return;
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function stepTimes(prisma: PrismaClient, stepId: string) {
  const runs = await prisma.stepRun.findMany({ where: { stepId }, select: { scheduledAt: true, executedAt: true, status: true } });
  const failed = runs.filter((r) => r.status !== 'SENT').length;
  if (failed) throw new Error(`${failed} steps did not send`);
  return runs.map((r) => ({ scheduledAt: r.scheduledAt.getTime(), executedAt: r.executedAt!.getTime() }));
}

function lagText(steps: { scheduledAt: number; executedAt: number }[]): string {
  const lags = steps.map((s) => s.executedAt - s.scheduledAt).sort((a, b) => a - b);
  const at = (q: number) => lags[Math.min(lags.length - 1, Math.ceil(q * lags.length) - 1)]!;
  const ms = (v: number) => (v >= 10_000 ? `${(v / 1000).toFixed(1)} s` : `${Math.round(v)} ms`);
  return `${ms(at(0.5))} / ${ms(at(0.99))}`;
}

/** Node's CPU time over a wall-clock span, as a share of one core. */
function cpuText(usage: NodeJS.CpuUsage, seconds: number): string {
  return `${Math.round(((usage.user + usage.system) / 1e6 / seconds) * 100)}% of one core`;
}

/** A UTC timestamp as Prisma stores DateTime (timestamp without time zone). */
function pgUtc(d: Date): string {
  return d.toISOString().replace('T', ' ').replace('Z', '');
}

function engineTitle(options: EngineBenchOptions): string {
  return (
    `engine: ${options.runs} runs × 2 email steps, ${options.inFlight} trackEvent calls in flight, ` +
    `WORKER_CONCURRENCY=${options.workerConcurrency}, mail to ${options.smtp ? 'a local SMTP server' : 'the outbox'}`
  );
}
