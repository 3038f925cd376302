// `npm run bench`: the ceilings of this machine, then Stepwise's figures, each
// with its ratio to its ceiling, all in one run on one Postgres (DATABASE_URL's
// server, else an embedded one) and one loopback. Ends with one table:
// figure, value, ceiling, ratio, target, met?
//
// BENCH_QUICK=1 runs everything at a small size (a minute or two) to check that
// the benchmark works; its figures mean little. BENCH_ONLY=ingest runs only the
// HTTP ceiling and the ingestion phases (trackEvent, trackEvents); BENCH_ONLY=cancel
// and BENCH_ONLY=memory run only that phase (BENCH_ONLY=simulate: see below).
// BENCH_ONLY=steps runs only the pg-boss ceiling and the steps phase (its
// BENCH_RUNS runs started by trackEvents, unmeasured); BENCH_ONLY=smtp only the
// SMTP ceiling, the SMTP burst and the due → sent lag. The memory phase (one worker process
// sending BENCH_MEMORY_EMAILS, 100,000 by default, while its RSS is sampled)
// takes minutes: the full run includes it only with BENCH_MEMORY=1. Its worker is
// the production build (built first; BENCH_WORKER_BUILD=tsx: under tsx instead),
// with the heap limit README gives workers (BENCH_WORKER_NODE_OPTIONS: other node
// options instead, '' for none).
import './as-deployed.js';
import os from 'node:os';
import { benchCancel } from './cancel.js';
import { commitCeiling, httpCeiling, queueCeiling, smtpCeiling } from './ceilings.js';
import { benchDatabase, benchWhere, stopBenchServer } from './database.js';
import { benchEngine, type EngineBenchOptions } from './engine.js';
import { WORKER_NODE_OPTIONS, benchMemory } from './memory.js';
import { printFigures, printTable, type Ceiling, type Figure, type Row } from './report.js';
import { startBenchSmtpSink } from './smtp-sink.js';
import { benchSimulate } from './simulate.js';
import { benchTestClock } from './test-clock.js';
import { benchTracking } from './tracking.js';

const quick = process.env.BENCH_QUICK === '1';
const only = process.env.BENCH_ONLY || undefined;
if (only && !['ingest', 'steps', 'smtp', 'simulate', 'cancel', 'memory', 'testclock'].includes(only)) {
  throw new Error(`BENCH_ONLY must be ingest, steps, smtp, simulate, cancel, memory or testclock (got ${only})`);
}
const ingestOnly = only === 'ingest';
const stepsOnly = only === 'steps';
const smtpOnly = only === 'smtp';

function num(name: string, full: number, small: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return quick ? small : full;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${name} must be a positive number (got ${raw})`);
  return value;
}

const inFlight = num('BENCH_IN_FLIGHT', 16, 16);
const engineOptions: EngineBenchOptions = {
  httpCalls: num('BENCH_RUNS', 4_000, 300),
  inFlight,
  batchCalls: num('BENCH_BATCH_CALLS', 40, 2),
  batchInFlight: num('BENCH_BATCH_IN_FLIGHT', 2, 2),
  burstEmails: num('BENCH_BURST_EMAILS', 2_000, 200),
  lagSeconds: num('BENCH_LAG_SECONDS', 20, 4),
  paceFraction: num('BENCH_PACE_FRACTION', 0.8, 0.8),
  workerConcurrency: num('WORKER_CONCURRENCY', 10, 10),
  phaseLimitSeconds: num('BENCH_PHASE_LIMIT_SECONDS', 90, 60),
  ingestOnly,
  stepsOnly,
  smtpOnly,
};

const simulateCalls = num('BENCH_SIMULATE_CALLS', 200, 200);
// BENCH_ONLY=simulate: only the simulateSequence latency (no ceilings: it is compared with its target).
if (process.env.BENCH_ONLY === 'simulate') {
  const only = await benchSimulate(simulateCalls);
  await stopBenchServer();
  printFigures('Summary', only);
  process.exit(0);
}

// The memory phase's worker runs as deployed (`npm run build`, then `node dist/main.js`) unless BENCH_WORKER_BUILD=tsx.
function workerBuild(): 'dist' | 'tsx' {
  const build = process.env.BENCH_WORKER_BUILD || 'dist';
  if (build !== 'dist' && build !== 'tsx') throw new Error(`BENCH_WORKER_BUILD must be dist or tsx (got ${build})`);
  return build;
}

const started = Date.now();
const sink = await startBenchSmtpSink();
const figures: Figure[] = [];
const testClockRuns = () => num('BENCH_TEST_CLOCK_RUNS', 1_000, 200);
const memoryOptions = () => ({
  emails: num('BENCH_MEMORY_EMAILS', 100_000, 5_000),
  workerConcurrency: engineOptions.workerConcurrency,
  limitSeconds: num('BENCH_MEMORY_LIMIT_SECONDS', 900, 120),
  // The heap limit README's "Roles and topology" gives workers, unless BENCH_WORKER_NODE_OPTIONS says otherwise ('' for none).
  nodeOptions: process.env.BENCH_WORKER_NODE_OPTIONS ?? WORKER_NODE_OPTIONS,
  build: workerBuild(),
});
try {
  if (only === 'cancel') figures.push(...(await benchCancel(num('BENCH_CANCEL_RUNS', 100_000, 2_000))));
  else if (only === 'memory') figures.push(...(await benchMemory(memoryOptions(), sink)));
  else if (only === 'testclock') figures.push(...(await benchTestClock(testClockRuns())));
  else if (stepsOnly) await benchSteps();
  else if (smtpOnly) await benchSmtp();
  else await benchAll();
} finally {
  await sink.close();
  await stopBenchServer();
}
printFigures(`Summary (${((Date.now() - started) / 1000).toFixed(0)} s${quick ? ', BENCH_QUICK: sizes too small for real figures' : ''})`, figures);
process.exit(0);

async function benchSteps() {
  const rows: Row[] = [];
  const ceilingDb = await benchDatabase({ migrated: false });
  const queue = await queueCeiling(ceilingDb.url, num('BENCH_QUEUE_JOBS', 50_000, 5_000), rows);
  await ceilingDb.close();
  figures.push({ name: 'ceiling: pg-boss no-op jobs, batch 1,000 × 4', value: queue.value, unit: queue.unit });
  const engine = await benchEngine(engineOptions, { queue }, sink);
  printTable(`Steps (${engineOptions.workerConcurrency} step workers; load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')})`, [...rows, ...engine.rows]);
  figures.push(...engine.figures);
}

async function benchSmtp() {
  const rows: Row[] = [];
  const smtp = await smtpCeiling(sink, num('BENCH_SMTP_CEILING_EMAILS', 3_000, 300), rows);
  figures.push({ name: 'ceiling: nodemailer pool to the SMTP sink', value: smtp.value, unit: smtp.unit });
  const engine = await benchEngine(engineOptions, { smtp }, sink);
  printTable(`SMTP burst and lag (${engineOptions.workerConcurrency} step workers)`, [...rows, ...engine.rows]);
  figures.push(...engine.figures);
}

async function benchAll() {
  // Ceilings, on a database of their own on the same server.
  const ceilingRows: Row[] = [];
  const ceilingDb = await benchDatabase({ migrated: false });
  const queue = ingestOnly ? undefined : await queueCeiling(ceilingDb.url, num('BENCH_QUEUE_JOBS', 50_000, 5_000), ceilingRows);
  const commits = ingestOnly ? undefined : await commitCeiling(ceilingDb.url, num('BENCH_COMMIT_SECONDS', 10, 2), ceilingRows);
  const http = await httpCeiling(ceilingDb.url, { calls: num('BENCH_HTTP_CEILING_CALLS', 4_000, 300), inFlight }, ceilingRows);
  const smtp = ingestOnly ? undefined : await smtpCeiling(sink, num('BENCH_SMTP_CEILING_EMAILS', 3_000, 300), ceilingRows);
  await ceilingDb.close();
  ceilingRows.unshift({ measure: 'machine', value: `${os.cpus().length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB, ${benchWhere()}${quick ? ', BENCH_QUICK' : ''}` });
  printTable('Ceilings (bare machinery, this run)', ceilingRows);
  const ceilingFigures: [string, Ceiling | undefined][] = [
    ['ceiling: pg-boss no-op jobs, batch 1,000 × 4', queue],
    ['ceiling: one-row INSERT transactions, 16 connections', commits],
    ['ceiling: bare yoga + pg trackEvent, 16 in flight', http],
    ['ceiling: nodemailer pool to the SMTP sink', smtp],
  ];
  for (const [name, c] of ceilingFigures) if (c) figures.push({ name, value: c.value, unit: c.unit });

  const engine = await benchEngine(engineOptions, { http, queue, smtp }, sink);
  printTable(`Engine (${engineOptions.workerConcurrency} step workers, ${inFlight} calls in flight)`, engine.rows);
  figures.push(...engine.figures);

  if (!ingestOnly) {
    const tracking = await benchTracking({
      messages: num('BENCH_TRACKING_MESSAGES', 1_000_000, 20_000),
      requests: num('BENCH_TRACKING_REQUESTS', 4_000, 500),
      concurrency: num('BENCH_TRACKING_CONCURRENCY', 16, 16),
    });
    // Open and click rates carry their own ceiling: a bare node:http pixel on the same generator.
    figures.push(...tracking.figures);

    figures.push(...(await benchCancel(num('BENCH_CANCEL_RUNS', 100_000, 2_000))));

    figures.push(...(await benchSimulate(simulateCalls)));
    figures.push(...(await benchTestClock(testClockRuns())));
    if (process.env.BENCH_MEMORY === '1') figures.push(...(await benchMemory(memoryOptions(), sink)));
  }
}
