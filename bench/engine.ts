// The engine's figures, over the real API on loopback, each beside its ceiling
// (bench/ceilings.ts, measured in the same run on the same Postgres):
//
//   1. trackEvent    N calls over HTTP, 16 in flight, workers stopped: runs
//                    started per second and latency, vs the bare yoga + pg endpoint.
//   2. trackEvents   calls of 500 events (when the schema has the mutation).
//   3. steps         the workers started on the runs of 1, mail to the outbox:
//                    steps executed per second, vs raw pg-boss at its best batch.
//   4. SMTP burst    runs held by `throttlePaused`, released at once: emails
//                    accepted by the SMTP sink per second, vs nodemailer's pool.
//   5. lag           runs started at a steady rate (a share of what 4 measured),
//                    by trackEvents every 100 ms: due → sent lag
//                    (StepRun.scheduledAt → Message.sentAt), and due → claimed.
//
// Each phase that waits on the engine stops after BENCH_PHASE_LIMIT_SECONDS and
// reports what it reached, so a slow engine still gives figures in bounded time.
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { createWorkspaceWithKey } from '../src/auth/api-keys.js';
import { schema } from '../src/graphql/schema.js';
import { createLogger } from '../src/logger.js';
import { buildApp } from '../src/server/app.js';
import { benchApi, benchEmail } from './api.js';
import { backendCpu, cpuMs, cpuSince } from './cpu.js';
import { benchDatabase } from './database.js';
import { startEngine, type BenchEngine } from './engine-runtime.js';
import { countTracked, drive, paced, quantile, trackEventVariables, TRACK_EVENT } from './generator.js';
import type { Ceiling, Figure, Row } from './report.js';
import type { BenchSmtpSink } from './smtp-sink.js';

export interface EngineBenchOptions {
  /** trackEvent calls over HTTP; their runs are the steps of phase 3. */
  httpCalls: number;
  inFlight: number;
  /** trackEvents calls of 500 events. */
  batchCalls: number;
  batchInFlight: number;
  /** Emails in the SMTP burst. */
  burstEmails: number;
  lagSeconds: number;
  /** Lag phase: offered rate as a share of the SMTP burst's rate. */
  paceFraction: number;
  workerConcurrency: number;
  phaseLimitSeconds: number;
  /** Stop after the ingestion phases (1 and 2). */
  ingestOnly?: boolean;
  /** Only phase 3: its runs started by trackEvents (fast), not measured. */
  stepsOnly?: boolean;
  /** Only phases 4 and 5 (SMTP burst, lag). */
  smtpOnly?: boolean;
}

export interface EngineCeilings {
  /** Absent when only the steps phase or the SMTP phases run. */
  http?: Ceiling;
  /** Absent when only the ingestion phases run. */
  queue?: Ceiling;
  smtp?: Ceiling;
}

export const BATCH = 500;
export const TRACK_EVENTS = `mutation($input: TrackEventsInput!) { trackEvents(input: $input) { results { enrollments { id } } errors { message } } }`;

export function countBatch(data: any): number {
  const payload = data.trackEvents;
  if (payload.errors?.length) throw new Error(`trackEvents: ${JSON.stringify(payload.errors.slice(0, 3))}`);
  return (payload.results as { enrollments: unknown[] }[]).reduce((n, r) => n + r.enrollments.length, 0);
}

/** Calls of BATCH events; with `total`, the last call carries only what is left. */
export const batchVariables = (prefix: string, event: string, total = Infinity) => (call: number) => ({
  input: {
    events: Array.from({ length: Math.min(BATCH, total - call * BATCH) }, (_, k) => trackEventVariables(prefix, event)(call * BATCH + k).input),
  },
});

/** The machine's 1, 5 and 15 minute load averages (other work on a shared machine shows here). */
const loadAverage = () => os.loadavg().map((l) => l.toFixed(2)).join(', ');

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `check` (a count) until it reaches `target` or the phase's time is up; returns the last count. */
async function until(check: () => Promise<number>, target: number, limitSeconds: number): Promise<{ reached: number; timedOut: boolean }> {
  const deadline = performance.now() + limitSeconds * 1000;
  for (;;) {
    const reached = await check();
    if (reached >= target) return { reached, timedOut: false };
    if (performance.now() > deadline) return { reached, timedOut: true };
    await sleep(100);
  }
}

export async function benchEngine(options: EngineBenchOptions, ceilings: EngineCeilings, sink: BenchSmtpSink): Promise<{ rows: Row[]; figures: Figure[] }> {
  const rows: Row[] = [];
  const figures: Figure[] = [];
  const database = await benchDatabase();
  const { url, prisma } = database;
  // The API's runtime inserts jobs; the workers run in runtimes of their own, started per phase.
  const api = await startEngine(database, {});
  let engine: BenchEngine | undefined;
  const app = buildApp({ runtime: api.runtime, logger: createLogger('silent'), settings: { RATE_LIMIT_PER_MINUTE: 0 } });
  try {
    const port = await app.start(0, '127.0.0.1');
    const endpoint = `http://127.0.0.1:${port}/graphql`;
    const { key } = await createWorkspaceWithKey(prisma, 'Bench');
    const { headers, gql, sequence } = benchApi(prisma, endpoint, key);
    const email = benchEmail;
    const main = await sequence('Bench', 'bench.signed_up', [email('Welcome'), email('Day two', { days: 1 })]);
    // Runs started in bulk wait a day: phase 3 works only phase 1's runs.
    const batch = await sequence('Batch', 'bench.batch', [email('Later', { days: 1 })]);
    const burst = await sequence('Burst', 'bench.burst', [email('Flash sale')], { throttlePaused: true });
    const steady = await sequence('Steady', 'bench.steady', [email('Steady')]);

    if (options.stepsOnly) {
      await drive({
        endpoint, headers, document: TRACK_EVENTS, calls: Math.ceil(options.httpCalls / BATCH), inFlight: 2,
        variables: batchVariables('bench', 'bench.signed_up', options.httpCalls), count: countBatch,
      });
      await benchSteps();
      return { rows, figures };
    }

    const hasBatch = schema.getMutationType()?.getFields().trackEvents !== undefined;
    if (!options.smtpOnly) {
      // 1. trackEvent over HTTP.
      const pgBeforeOne = await backendCpu(prisma);
      const cpuBeforeOne = process.cpuUsage();
      const tracked = await drive({
        endpoint, headers, document: TRACK_EVENT, calls: options.httpCalls, inFlight: options.inFlight,
        variables: trackEventVariables('bench', 'bench.signed_up'), count: countTracked,
      });
      const cpuOne = process.cpuUsage(cpuBeforeOne);
      const pgSecondsOne = cpuSince(pgBeforeOne, await backendCpu(prisma));
      if (tracked.counted !== options.httpCalls) throw new Error(`trackEvent started ${tracked.counted} runs for ${options.httpCalls} calls`);
      rows.push({ measure: `trackEvent over HTTP, ${options.inFlight} in flight`, value: `${options.httpCalls} runs in ${tracked.seconds.toFixed(1)} s` });
      rows.push({
        measure: 'trackEvent: CPU per call, API process (generator included) / Postgres',
        value: `${((cpuMs(cpuOne) * 1000) / tracked.counted).toFixed(0)} µs / ${((pgSecondsOne * 1e6) / tracked.counted).toFixed(0)} µs`,
      });
      figures.push({ name: `trackEvent over HTTP, ${options.inFlight} in flight: runs started`, value: tracked.perSecond, unit: 'runs/s', ceiling: ceilings.http, target: { ratio: 0.5 } });
      figures.push({ name: 'trackEvent latency p50', value: quantile(tracked.latencies, 0.5), unit: 'ms' });
      figures.push({ name: 'trackEvent latency p99', value: quantile(tracked.latencies, 0.99), unit: 'ms', target: { max: 100 } });

      // 2. trackEvents, 500 events a call.
      if (hasBatch) {
        // CPU per run, this process (the API, and the generator building each call's 500 events) and the database's
        // backends: steadier than the rate on a shared machine.
        const pgBefore = await backendCpu(prisma);
        const cpuBefore = process.cpuUsage();
        const batched = await drive({
          endpoint, headers, document: TRACK_EVENTS, calls: options.batchCalls, inFlight: options.batchInFlight,
          variables: batchVariables('batch', 'bench.batch'), count: countBatch,
        });
        const cpu = process.cpuUsage(cpuBefore);
        const pgSeconds = cpuSince(pgBefore, await backendCpu(prisma));
        rows.push({ measure: `trackEvents, ${BATCH} events a call, ${options.batchInFlight} in flight`, value: `${batched.counted} runs in ${batched.seconds.toFixed(1)} s` });
        rows.push({
          measure: 'trackEvents: CPU per run, API process (generator included) / Postgres',
          value: `${((cpuMs(cpu) * 1000) / batched.counted).toFixed(0)} µs / ${((pgSeconds * 1e6) / batched.counted).toFixed(0)} µs`,
        });
        rows.push({ measure: 'trackEvents: load average after', value: loadAverage() });
        figures.push({ name: `trackEvents (${BATCH} a call): runs started`, value: batched.perSecond, unit: 'runs/s', ceiling: ceilings.http, target: { min: 10_000 } });
      } else {
        figures.push({ name: `trackEvents (${BATCH} a call): runs started`, unit: 'runs/s', na: 'n/a (mutation not available)', target: { min: 10_000 } });
      }
    }

    if (options.ingestOnly) return { rows, figures };

    // The burst's runs, held by throttlePaused (started now, while no worker runs).
    if (hasBatch) {
      await drive({ endpoint, headers, document: TRACK_EVENTS, calls: Math.ceil(options.burstEmails / BATCH), inFlight: 2, variables: batchVariables('burst', 'bench.burst', options.burstEmails), count: countBatch });
    } else {
      await drive({ endpoint, headers, document: TRACK_EVENT, calls: options.burstEmails, inFlight: options.inFlight, variables: trackEventVariables('burst', 'bench.burst'), count: () => 1 });
    }
    const held = await prisma.enrollment.count({ where: { sequenceId: burst.dbId, status: 'QUEUED' } });
    if (held < options.burstEmails) throw new Error(`expected ${options.burstEmails} runs held by throttlePaused, found ${held}`);
    rows.push({ measure: 'SMTP burst: runs held by throttlePaused', value: String(held) });

    if (!options.smtpOnly) await benchSteps();

    // 4. The SMTP burst.
    await engine?.stop();
    sink.reset();
    // CPU per email, as for steps: this process (worker, and the SMTP sink, whose share stays the same) and Postgres.
    const burstPgBefore = await backendCpu(prisma);
    const burstCpuBefore = process.cpuUsage();
    engine = await startEngine(database, { workers: options.workerConcurrency, smtpUrl: sink.url });
    const burstT0 = performance.now();
    await gql(`mutation($id: ID!, $input: UpdateSequenceInput!) { updateSequence(id: $id, input: $input) { errors { message } } }`, {
      id: burst.id,
      input: { throttlePaused: false },
    });
    const sent = await until(async () => sink.messageIds.length, held, options.phaseLimitSeconds);
    const burstCpu = cpuMs(process.cpuUsage(burstCpuBefore)) / sent.reached;
    const burstPgMs = (cpuSince(burstPgBefore, await backendCpu(prisma)) * 1000) / sent.reached;
    const burstSeconds = sent.timedOut ? options.phaseLimitSeconds : (sink.arrivals.at(-1)! - burstT0) / 1000;
    const burstRate = sent.reached / burstSeconds;
    const distinct = new Set(sink.messageIds).size;
    rows.push({ measure: 'SMTP burst: emails at the sink (distinct Message-IDs)', value: `${sent.reached} (${distinct}) in ${burstSeconds.toFixed(1)} s${sent.timedOut ? ' (time limit)' : ''}` });
    if (sink.arrivals.length) rows.push({ measure: 'SMTP burst: first email at the sink after', value: `${((sink.arrivals[0]! - burstT0) / 1000).toFixed(2)} s` });
    rows.push({ measure: 'SMTP burst: CPU per email, this process (worker and sink) / Postgres', value: `${burstCpu.toFixed(3)} ms / ${burstPgMs.toFixed(3)} ms` });
    rows.push({ measure: 'SMTP burst: load average after', value: loadAverage() });
    figures.push({ name: `burst of ${held} due emails through SMTP`, value: burstRate, unit: 'emails/s', ceiling: ceilings.smtp, target: { ratio: 0.5 }, note: sent.timedOut ? 'time limit reached' : undefined });
    if (distinct !== sink.messageIds.length) figures.push({ name: 'SMTP burst: emails sent twice', value: sink.messageIds.length - distinct, unit: '', target: { max: 1 } });

    // 5. Due → sent lag at a steady share of the burst's rate. The runs start
    // through trackEvents, a call every 100 ms carrying that tenth of a second's
    // events: one trackEvent call per run costs more CPU than the run's whole
    // step (phase 1 starts fewer runs per second than phase 4 sends), so on this
    // machine it would hold the offered rate below the target, or starve the
    // workers it shares the cores with; this phase measures the wait from due to sent.
    const rate = Math.max(1, burstRate * options.paceFraction);
    const callsPerSecond = 10;
    const firstOf = (call: number) => Math.round(call * (rate / callsPerSecond));
    const steadyRuns = (call: number) => ({
      input: {
        events: Array.from({ length: firstOf(call + 1) - firstOf(call) }, (_, k) => trackEventVariables('steady', 'bench.steady')(firstOf(call) + k).input),
      },
    });
    const offered = hasBatch
      ? await paced({ endpoint, headers, document: TRACK_EVENTS, rate: callsPerSecond, seconds: options.lagSeconds, variables: steadyRuns, count: countBatch })
      : await paced({
          endpoint, headers, document: TRACK_EVENT, rate, seconds: options.lagSeconds,
          variables: trackEventVariables('steady', 'bench.steady'), count: countTracked,
        });
    const steadyStep = steady.stepIds[0]!;
    await until(() => prisma.message.count({ where: { stepRun: { stepId: steadyStep }, status: { not: 'QUEUED' } } }), offered.counted, options.phaseLimitSeconds);
    // Where the lag goes: due → claimed (Message.createdAt, the claim's time) → sent.
    const timings = await prisma.$queryRaw<{ ms: number; claimMs: number }[]>`
      SELECT (extract(epoch FROM (m."sentAt" - s."scheduledAt")) * 1000)::float8 AS ms,
        (extract(epoch FROM (m."createdAt" - s."scheduledAt")) * 1000)::float8 AS "claimMs"
      FROM "StepRun" s JOIN "Message" m ON m.id = s."messageId"
      WHERE s."stepId" = ${steadyStep}::uuid AND m."sentAt" IS NOT NULL`;
    const lags = timings.map((r) => r.ms).sort((a, b) => a - b);
    const claimLags = timings.map((r) => r.claimMs).sort((a, b) => a - b);
    rows.push({
      measure: 'steady: offered / achieved start rate',
      value: `${rate.toFixed(0)}/s (${Math.round(options.paceFraction * 100)}% of the burst) / ${offered.perSecond.toFixed(0)}/s over ${options.lagSeconds} s${hasBatch ? ', trackEvents every 100 ms' : ''}`,
    });
    rows.push({ measure: 'steady: emails sent / started', value: `${lags.length} / ${offered.counted}` });
    rows.push({ measure: 'steady: load average after', value: loadAverage() });
    rows.push({ measure: 'steady: due → claimed p50 / p99', value: `${quantile(claimLags, 0.5).toFixed(0)} ms / ${quantile(claimLags, 0.99).toFixed(0)} ms` });
    rows.push({ measure: 'steady: due → sent lag p50 / p99', value: `${quantile(lags, 0.5).toFixed(0)} ms / ${quantile(lags, 0.99).toFixed(0)} ms` });
    figures.push({ name: `due → sent lag p99 at ${rate.toFixed(0)} emails/s`, value: quantile(lags, 0.99), unit: 'ms', target: { max: 1000 }, note: `${Math.round(options.paceFraction * 100)}% of the burst rate` });
    return { rows, figures };

    // 3. Steps executed, mail to the outbox: the workers started on phase 1's runs.
    async function benchSteps() {
      // CPU per step, this process (the worker; the API idles) and the database's
      // backends: steadier than the rate on a shared machine.
      const pgBefore = await backendCpu(prisma);
      const cpuBefore = process.cpuUsage();
      const stepsT0 = Date.now();
      engine = await startEngine(database, { workers: options.workerConcurrency });
      // The worker's start (pg-boss; MJML's half second of module loading only for emails not stored compiled) is inside
      // the figure's time; the rate after it is shown beside, for reading.
      const startedAt = Date.now();
      const cpuStart = process.cpuUsage(cpuBefore);
      const firstStep = main.stepIds[0]!;
      const executed = (after?: Date) => prisma.stepRun.count({ where: { stepId: firstStep, executedAt: after ? { gte: after } : { not: null } } });
      const beforeStart = await executed();
      const steps = await until(
        () => prisma.stepRun.count({ where: { stepId: firstStep, executedAt: { not: null } } }),
        options.httpCalls,
        options.phaseLimitSeconds,
      );
      const cpuUsed = process.cpuUsage(cpuBefore);
      const pgSeconds = cpuSince(pgBefore, await backendCpu(prisma));
      const lastStep = await prisma.stepRun.aggregate({ where: { stepId: firstStep }, _max: { executedAt: true } });
      const stepsSeconds = steps.timedOut ? options.phaseLimitSeconds : ((lastStep._max.executedAt?.getTime() ?? Date.now()) - stepsT0) / 1000;
      rows.push({ measure: `steps executed (outbox), WORKER_CONCURRENCY=${options.workerConcurrency}`, value: `${steps.reached} in ${stepsSeconds.toFixed(1)} s${steps.timedOut ? ' (time limit)' : ''}` });
      if (!steps.timedOut && lastStep._max.executedAt) {
        const after = (await executed(new Date(startedAt))) / ((lastStep._max.executedAt.getTime() - startedAt) / 1000);
        rows.push({ measure: 'steps: worker start / rate after it', value: `${startedAt - stepsT0} ms (${beforeStart} steps executed by then) / ${after.toFixed(0)} steps/s` });
      }
      rows.push({
        measure: 'steps: CPU per step, worker process / Postgres',
        value: `${(cpuMs(cpuUsed) / steps.reached).toFixed(3)} ms / ${((pgSeconds * 1000) / steps.reached).toFixed(3)} ms (of it, ${cpuMs(cpuStart).toFixed(0)} ms in the worker's start)`,
      });
      rows.push({ measure: 'steps: load average after', value: loadAverage() });
      figures.push({ name: 'steps executed to the outbox', value: steps.reached / stepsSeconds, unit: 'steps/s', ceiling: ceilings.queue, target: { ratio: 0.3 }, note: steps.timedOut ? 'time limit reached' : undefined });
      // Steps left over (time limit) must not send during the SMTP phases: their runs' sequence stops.
      if (steps.timedOut) await gql(`mutation($id: ID!) { disableSequence(id: $id) { errors { message } } }`, { id: main.id });
    }
  } finally {
    await app.stop().catch((error) => console.error('engine bench: app stop', error));
    await engine?.stop().catch((error) => console.error('engine bench: engine stop', error));
    await api.stop().catch((error) => console.error('engine bench: api runtime stop', error));
    await database.close().catch((error) => console.error('engine bench: database close', error));
  }
}
