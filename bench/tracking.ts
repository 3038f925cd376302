// Tracking endpoints and stats at volume: requests per second for the open pixel
// and the click redirect (real HTTP on loopback, a fixed number of requests from
// a bounded number of concurrent clients), and the time of the stats query for a
// sequence with 1,000,000 messages.
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { text } from 'node:stream/consumers';
import { createLogger } from '../src/logger.js';
import { trackingUrl } from '../src/domain/tracking-links.js';
import { createRuntime } from '../src/runtime.js';
import { buildApp } from '../src/server/app.js';
import { loadSequenceStats, loadStepStats } from '../src/services/stats.js';
import { backendCpu, cpuSince } from './cpu.js';
import { benchDatabase } from './database.js';
import { printTable, type Ceiling, type Figure, type Row } from './report.js';

export interface TrackingBenchOptions {
  messages: number;
  requests: number;
  concurrency: number;
}

interface Served {
  /** Waits until what the requests recorded is written. */
  settled(): Promise<void>;
  /** Statements written so far. */
  writes(): number;
  /** The database whose backends' CPU counts (Postgres on this machine; 0 when /proc cannot tell). */
  prisma: Parameters<typeof backendCpu>[0];
}

/**
 * Requests answered per second, from a client process of their own (bench/http-get-client.ts);
 * the time includes writing what they recorded (`settled`), so a backlog does not flatter the
 * rate. `cpuUs`: this process's CPU a request, i.e. the server's (the client is apart);
 * `pgCpuUs`: its database backends' CPU a request (they share the cores); `writes`: the
 * statements the recorder wrote for them.
 */
async function requestsPerSecond(
  urls: string[],
  CONCURRENCY: number,
  served?: Served,
): Promise<{ rps: number; failures: number; cpuUs: number; pgCpuUs: number; writes: number }> {
  const pgBefore = served ? await backendCpu(served.prisma) : new Map<number, number>();
  const writesBefore = served?.writes() ?? 0;
  const client = spawn(process.execPath, ['--import', 'tsx', 'bench/http-get-client.ts', String(CONCURRENCY)], { stdio: ['pipe', 'pipe', 'inherit'] });
  const output = text(client.stdout);
  const exited = new Promise<number | null>((resolve, reject) => client.once('error', reject).once('exit', resolve));
  const cpu = process.cpuUsage();
  client.stdin.end(urls.join('\n'));
  const code = await exited;
  if (code !== 0) throw new Error(`tracking bench client exited with ${code}`);
  const { seconds, failures } = JSON.parse(await output) as { seconds: number; failures: number };
  // The client's own time from its first request to its last answer (not its start-up), then the writes.
  const answered = performance.now();
  await served?.settled();
  const used = process.cpuUsage(cpu);
  const pgSeconds = served ? cpuSince(pgBefore, await backendCpu(served.prisma)) : 0;
  return {
    rps: urls.length / (seconds + (performance.now() - answered) / 1000),
    failures,
    cpuUs: (used.user + used.system) / urls.length,
    pgCpuUs: (pgSeconds * 1e6) / urls.length,
    writes: (served?.writes() ?? 0) - writesBefore,
  };
}

/** The same requests against a bare node:http server that only answers the pixel: what this generator and loopback allow. */
async function bareHttpCeiling(requests: number, concurrency: number): Promise<Ceiling & { cpuUs: number }> {
  const gif = Buffer.from('R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7', 'base64');
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'image/gif', 'content-length': gif.length, 'cache-control': 'no-store, max-age=0' }).end(gif);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const { port } = server.address() as AddressInfo;
    const urls = Array.from({ length: requests }, (_, i) => `http://127.0.0.1:${port}/t/o/${i}.gif`);
    const { rps, cpuUs } = await requestsPerSecond(urls, concurrency);
    return { name: 'bare node:http pixel', value: rps, unit: 'req/s', cpuUs };
  } finally {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
}

function servedFigures(r: Awaited<ReturnType<typeof requestsPerSecond>>): string {
  return `${r.rps.toFixed(0)} req/s (${r.failures} failed), ${r.cpuUs.toFixed(0)} µs / ${r.pgCpuUs.toFixed(0)} µs CPU a request, ${r.writes} statements`;
}

async function median(fn: () => Promise<unknown>, times = 5): Promise<number> {
  const ms: number[] = [];
  for (let i = 0; i < times; i++) {
    const started = performance.now();
    await fn();
    ms.push(performance.now() - started);
  }
  return ms.sort((a, b) => a - b)[Math.floor(times / 2)]!;
}

export async function benchTracking({ messages: MESSAGES, requests: REQUESTS, concurrency: CONCURRENCY }: TrackingBenchOptions): Promise<{ rows: Row[]; figures: Figure[] }> {
  const bench = await benchDatabase();
  const { prisma } = bench;
  // No job queue started: tracking writes insert no jobs here.
  const runtime = createRuntime({ DATABASE_URL: bench.url }, { db: prisma, workers: false });
  const app = buildApp({ runtime, logger: createLogger('silent') });
  try {
    const port = await app.start(0, '127.0.0.1');
    runtime.tracking.configure({ publicUrl: `http://127.0.0.1:${port}` });
    const workspace = await prisma.workspace.create({ data: { name: 'bench' } });
    const sequence = await prisma.sequence.create({ data: { workspaceId: workspace.id, slug: 'bench', name: 'bench', triggerType: 'MANUAL', status: 'ACTIVE' } });
    const steps = await Promise.all(
      [1, 2, 3].map((position) => prisma.step.create({ data: { sequenceId: sequence.id, position, type: 'EMAIL', subject: 'Bench', blocks: [] } })),
    );
    const insertStarted = performance.now();
    await prisma.$executeRawUnsafe(
      `INSERT INTO "Message" (id, "workspaceId", "stepId", "to", subject, html, status, "smtpMessageId", "sentAt", "deliveredAt", "openedAt", "clickedAt", "bouncedAt", "unsubscribedAt", "repliedAt", "replySentiment")
       SELECT gen_random_uuid(), $1::uuid, (ARRAY[$2, $3, $4]::uuid[])[1 + i % 3], 'p' || i || '@example.com', 'Bench', '<p>bench</p>',
         (CASE WHEN i % 9 = 0 THEN 'CLICKED' WHEN i % 3 = 0 THEN 'OPENED' ELSE 'DELIVERED' END)::"MessageStatus", '<bench-' || i || '@stepwise.test>',
         now(), now(), CASE WHEN i % 3 = 0 THEN now() END, CASE WHEN i % 9 = 0 THEN now() END, CASE WHEN i % 97 = 0 THEN now() END,
         CASE WHEN i % 201 = 0 THEN now() END, CASE WHEN i % 41 = 0 THEN now() END, CASE WHEN i % 41 = 0 THEN 'POSITIVE'::"ReplySentiment" END
       FROM generate_series(1, $5::int) AS i`,
      workspace.id,
      steps[0]!.id,
      steps[1]!.id,
      steps[2]!.id,
      MESSAGES,
    );
    const insertSeconds = (performance.now() - insertStarted) / 1000;
    // Runs too (a third of the messages, mixed statuses): Sequence.stats counts them as well.
    const subscriber = await prisma.subscriber.create({ data: { workspaceId: workspace.id, email: 'bench@example.com' } });
    await prisma.$executeRawUnsafe(
      `INSERT INTO "Enrollment" (id, "workspaceId", "sequenceId", "subscriberId", status, "updatedAt")
       SELECT gen_random_uuid(), $1::uuid, $2::uuid, $3::uuid,
         (CASE WHEN i % 5 = 0 THEN 'ACTIVE' WHEN i % 7 = 0 THEN 'STOPPED' ELSE 'COMPLETED' END)::"EnrollmentStatus", now()
       FROM generate_series(1, $4::int) AS i`,
      workspace.id,
      sequence.id,
      subscriber.id,
      Math.ceil(MESSAGES / 3),
    );
    await prisma.$executeRawUnsafe('VACUUM ANALYZE "Message"');
    await prisma.$executeRawUnsafe('VACUUM ANALYZE "Enrollment"');

    const sequenceMs = await median(() => loadSequenceStats(prisma, [sequence.id]));
    const stepMs = await median(() => loadStepStats(prisma, steps.map((s) => s.id)));
    const [stats] = await loadSequenceStats(prisma, [sequence.id]);

    const keys = await runtime.tracking.keys();
    const ids = (await prisma.$queryRawUnsafe<{ id: string }[]>(`SELECT id::text FROM "Message" ORDER BY id LIMIT ${REQUESTS}`)).map((r) => r.id);
    // The ceiling before and after (their mean), as the machine's load moves.
    const ceilingBefore = await bareHttpCeiling(ids.length, CONCURRENCY);
    const served: Served = { settled: () => app.tracking.settled(), writes: () => app.tracking.writes, prisma };
    const opens = await requestsPerSecond(
      ids.map((id) => trackingUrl(keys, { kind: 'open', workspaceId: workspace.id, messageId: id })),
      CONCURRENCY,
      served,
    );
    const clicks = await requestsPerSecond(
      ids.map((id) => trackingUrl(keys, { kind: 'click', workspaceId: workspace.id, messageId: id, url: 'https://example.com/landing?utm=bench' })),
      CONCURRENCY,
      served,
    );
    // Every answered open and click is written (the rate above counts until then).
    const recorded = await prisma.messageEvent.groupBy({ by: ['type'], _count: { _all: true } });
    const written = (type: string) => recorded.find((r) => r.type === type)?._count._all ?? 0;
    if (written('OPEN') !== ids.length || written('CLICK') !== ids.length) {
      throw new Error(`tracking bench: ${written('OPEN')} opens and ${written('CLICK')} clicks written for ${ids.length} requests each`);
    }
    const ceilingAfter = await bareHttpCeiling(ids.length, CONCURRENCY);
    const ceiling: Ceiling = { ...ceilingAfter, value: (ceilingBefore.value + ceilingAfter.value) / 2 };
    const forged = await requestsPerSecond(
      ids.slice(0, 1000).map((id) => trackingUrl({ ...keys, key: Buffer.alloc(32) }, { kind: 'open', workspaceId: workspace.id, messageId: id })),
      CONCURRENCY,
    );

    const rows: Row[] = [
      { measure: `messages inserted (generate_series)`, value: `${MESSAGES.toLocaleString('en')} in ${insertSeconds.toFixed(1)} s` },
      { measure: 'Sequence.stats query (median of 5)', value: `${sequenceMs.toFixed(1)} ms (sent ${stats!.sent.toLocaleString('en')}, opened ${stats!.opened.toLocaleString('en')}, enrolled ${stats!.enrolled.toLocaleString('en')})` },
      { measure: 'Step.stats query, 3 steps (median of 5)', value: `${stepMs.toFixed(1)} ms` },
      { measure: `open pixel, ${ids.length} requests × ${CONCURRENCY} clients`, value: servedFigures(opens) },
      { measure: `click redirect, ${ids.length} requests × ${CONCURRENCY} clients`, value: servedFigures(clicks) },
      { measure: 'forged link refused (404), 1000 requests', value: `${forged.rps.toFixed(0)} req/s` },
      { measure: `ceiling: bare node:http pixel, ${ids.length} requests × ${CONCURRENCY} clients`, value: `${ceiling.value.toFixed(0)} req/s (mean of ${ceilingBefore.value.toFixed(0)} before and ${ceilingAfter.value.toFixed(0)} after), ${((ceilingBefore.cpuUs + ceilingAfter.cpuUs) / 2).toFixed(0)} µs CPU a request` },
      { measure: 'clients: their own process; CPU a request: the server\'s / its Postgres backends\'', value: '' },
    ];
    printTable(`Tracking and stats (${bench.where})`, rows);
    const million = MESSAGES === 1_000_000 ? '1,000,000' : MESSAGES.toLocaleString('en');
    return {
      rows,
      figures: [
        { name: 'ceiling: bare node:http pixel (no database)', value: ceiling.value, unit: 'req/s' },
        { name: `open pixel, ${CONCURRENCY} clients`, value: opens.rps, unit: 'req/s', ceiling, target: { min: 2_000 }, note: opens.failures ? `${opens.failures} failed` : undefined },
        { name: `click redirect, ${CONCURRENCY} clients`, value: clicks.rps, unit: 'req/s', ceiling, target: { min: 2_000 }, note: clicks.failures ? `${clicks.failures} failed` : undefined },
        { name: `Sequence.stats at ${million} messages`, value: sequenceMs, unit: 'ms', target: { max: 50 } },
        { name: `Step.stats (3 steps) at ${million} messages`, value: stepMs, unit: 'ms', target: { max: 50 } },
      ],
    };
  } finally {
    await app.stop();
    await bench.close();
  }
}
