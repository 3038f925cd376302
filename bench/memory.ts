// A worker's memory across a long send: N runs of a one-email sequence started
// through trackEvents while no worker runs, then one worker process (src/main.ts,
// STEPWISE_ROLE=worker) sends them all to the SMTP sink while its resident set
// size is sampled. Flat means the figures at the end are those of the start,
// give or take the heap's working size: nothing grows per email sent.
import { performance } from 'node:perf_hooks';
import { createWorkspaceWithKey } from '../src/auth/api-keys.js';
import { createLogger } from '../src/logger.js';
import { buildApp } from '../src/server/app.js';
import { benchApi, benchEmail } from './api.js';
import { benchDatabase } from './database.js';
import { BATCH, TRACK_EVENTS, batchVariables, countBatch } from './engine.js';
import { startEngine } from './engine-runtime.js';
import { drive } from './generator.js';
import { STEPWISE_COMMANDS, buildDist, rssOf, startStepwise, type StepwiseBuild } from './processes.js';
import { printTable, type Figure, type Row } from './report.js';
import type { BenchSmtpSink } from './smtp-sink.js';

export interface MemoryBenchOptions {
  emails: number;
  workerConcurrency: number;
  limitSeconds: number;
  /** Extra NODE_OPTIONS for the worker process (BENCH_WORKER_NODE_OPTIONS). */
  nodeOptions?: string;
  /** The worker as deployed (`node dist/main.js`, built first) or under tsx (BENCH_WORKER_BUILD). */
  build: StepwiseBuild;
}

const MB = 2 ** 20;
/** What README's "Roles and topology" has workers run with. */
export const WORKER_NODE_OPTIONS = '--max-old-space-size=1024';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function benchMemory(options: MemoryBenchOptions, sink: BenchSmtpSink): Promise<Figure[]> {
  if (options.build === 'dist') await buildDist();
  const database = await benchDatabase();
  const { url, prisma } = database;
  const engine = await startEngine(database, {});
  const app = buildApp({ runtime: engine.runtime, logger: createLogger('silent'), settings: { RATE_LIMIT_PER_MINUTE: 0 } });
  let worker: Awaited<ReturnType<typeof startStepwise>> | undefined;
  try {
    const port = await app.start(0, '127.0.0.1');
    const { key } = await createWorkspaceWithKey(prisma, 'Memory');
    const api = benchApi(prisma, `http://127.0.0.1:${port}/graphql`, key);
    await api.sequence('Memory', 'bench.memory', [benchEmail('Memory')]);
    const started = await drive({
      endpoint: api.endpoint, headers: api.headers, document: TRACK_EVENTS, calls: Math.ceil(options.emails / BATCH), inFlight: 2,
      variables: batchVariables('memory', 'bench.memory', options.emails), count: countBatch,
    });
    await app.stop();
    await engine.stop();

    sink.reset();
    worker = await startStepwise(
      {
        DATABASE_URL: url, STEPWISE_ROLE: 'worker', SMTP_URL: sink.url, LOG_LEVEL: 'info', WORKER_CONCURRENCY: String(options.workerConcurrency), PORT: '0',
        // V8 flags for the worker alone (e.g. --max-old-space-size=160: how much of the RSS is the heap's lazy collection).
        ...(options.nodeOptions ? { NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} ${options.nodeOptions}`.trim() } : {}),
      },
      /workers are running/,
      [],
      options.build,
    );
    const pid = worker.child.pid!;
    const t0 = performance.now();
    const samples: { sent: number; rss: number; seconds: number }[] = [];
    const rows: Row[] = [{ measure: 'runs started (trackEvents, workers stopped)', value: `${started.counted} in ${started.seconds.toFixed(1)} s` }];
    let nextReport = 0;
    for (;;) {
      const sent = sink.messageIds.length;
      const seconds = (performance.now() - t0) / 1000;
      samples.push({ sent, rss: await rssOf(pid), seconds });
      if (sent >= nextReport || sent >= started.counted) {
        rows.push({ measure: `RSS after ${sent.toLocaleString('en')} emails (${seconds.toFixed(0)} s)`, value: `${(samples.at(-1)!.rss / MB).toFixed(0)} MB` });
        nextReport = sent + Math.max(1, Math.floor(started.counted / 10));
      }
      if (sent >= started.counted || seconds > options.limitSeconds) break;
      await sleep(1000);
    }
    const last = samples.at(-1)!;
    const peak = Math.max(...samples.map((s) => s.rss));
    // The first 10% warm up (caches, pools, JIT); growth is measured from there to the end.
    const warm = samples.find((s) => s.sent >= last.sent / 10) ?? samples[0]!;
    rows.push(
      { measure: 'emails at the sink (distinct Message-IDs)', value: `${last.sent} (${new Set(sink.messageIds).size}) in ${last.seconds.toFixed(0)} s${last.sent < started.counted ? ' (time limit)' : ''}` },
      { measure: 'worker RSS peak', value: `${(peak / MB).toFixed(0)} MB` },
      { measure: 'worker RSS growth after the first 10%', value: `${((last.rss - warm.rss) / MB).toFixed(0)} MB` },
    );
    printTable(`Worker memory: ${started.counted.toLocaleString('en')} emails through one worker process, \`${STEPWISE_COMMANDS[options.build]}\` (WORKER_CONCURRENCY=${options.workerConcurrency}, NODE_OPTIONS: ${options.nodeOptions || 'none'})`, rows);
    return [
      { name: `worker RSS peak across ${last.sent.toLocaleString('en')} emails (${options.build})`, value: peak / MB, unit: 'MB', target: { max: 300 }, note: last.sent < started.counted ? 'time limit reached' : undefined },
      { name: 'worker RSS growth after the first 10% of emails', value: (last.rss - warm.rss) / MB, unit: 'MB' },
    ];
  } finally {
    await worker?.stop().catch((error) => console.error('memory bench: worker stop', error));
    await app.stop().catch(() => {});
    await engine.stop().catch(() => {});
    await database.close().catch((error) => console.error('memory bench: database close', error));
  }
}
