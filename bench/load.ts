// `npm run bench:load`: sustained load against two API processes and two worker
// processes on one database, loopback only and bounded in time: trackEvent calls
// and queries at a steady concurrency while 1,000 live subscriptions follow
// their subscribers' runs. Reports throughput, p50/p99 latency and errors, each
// change's lag from its writer's commit to its subscription (the embedded Postgres
// stamps commits: track_commit_timestamp), then checks that every expected email
// was sent exactly once.
//
// BENCH_LOAD_SECONDS (default 120, measured), BENCH_LOAD_WARMUP (30: seconds of the same load
// before them, then ANALYZE, as autovacuum would have run on a database in use; 0 measures from a
// cold, never-analyzed database), BENCH_LOAD_SUBSCRIPTIONS (1000),
// BENCH_LOAD_CONCURRENCY (16), BENCH_LOAD_RATE (calls started per second, trackEvent
// and queries; unset: each lane calls again as soon as answered, the machine saturated),
// WORKER_CONCURRENCY (8), BENCH_LOAD_BUILD (dist: the
// processes run as deployed, built first; tsx: src/ under tsx). BENCH_LOAD_NODE_ARGS are
// given to each process's node, e.g. "--cpu-prof --cpu-prof-dir=DIR" for a CPU
// profile of each (they stop gracefully, so it gets written; the pids are printed).
// BENCH_PG_FLAGS are given to the embedded Postgres (e.g. "-c autovacuum_naptime=5").
// BENCH_LOAD_KEEP=1 with DATABASE_URL keeps the test's database. BENCH_PG_STATEMENTS=1
// (embedded Postgres, or a server that preloads pg_stat_statements) prints the statements
// that took Postgres' time during the load window; a value with a slash is a file the
// statements are also written to in full (JSON). BENCH_LAG_DUMP=<file> writes each
// trackEvent's [answered at (ms into the load), lag to its subscription, subscriber, its latency] (JSON),
// to see when in the run the slow changes came. BENCH_CHILD_LOG=<prefix> writes each process's
// output after its start to <prefix>-<role>-<pid>.log (with BENCH_LOAD_NODE_ARGS=--trace-gc: its pauses).
import { readFileSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { benchDatabase } from './database.js';
import { buildDist, startStepwise, STEPWISE_COMMANDS, type StepwiseBuild, type StepwiseProcess } from './processes.js';
import { printTable, type Row } from './report.js';
import { startBenchSmtpSink } from './smtp-sink.js';

const SECONDS = Number(process.env.BENCH_LOAD_SECONDS ?? 120);
// A fresh database has no statistics until autovacuum's first ANALYZE (up to a minute in, and the
// tables grow from empty meanwhile): Postgres plans the hot statements for a handful of rows, and a
// 120 s run measured that start more than the steady state (a quarter fewer trackEvent calls).
const WARMUP = Number(process.env.BENCH_LOAD_WARMUP ?? 30);
const SUBSCRIPTIONS = Number(process.env.BENCH_LOAD_SUBSCRIPTIONS ?? 1000);
const CONCURRENCY = Number(process.env.BENCH_LOAD_CONCURRENCY ?? 16);
// Calls started per second (trackEvent and queries, 2:1), at most CONCURRENCY in flight; unset: as fast as they answer.
const RATE = Number(process.env.BENCH_LOAD_RATE ?? 0);
const WORKERS = process.env.WORKER_CONCURRENCY ?? '8';
// As deployed (`npm run build`, `node dist/main.js`): under tsx every closure also pays esbuild's
// __name() and every Error its source-map lookup. BENCH_LOAD_BUILD=tsx runs src/ under tsx.
const BUILD = (process.env.BENCH_LOAD_BUILD || 'dist') as StepwiseBuild;
if (!(BUILD in STEPWISE_COMMANDS)) throw new Error(`BENCH_LOAD_BUILD must be dist or tsx (got ${BUILD})`);
const NODE_ARGS = (process.env.BENCH_LOAD_NODE_ARGS ?? '').split(' ').filter(Boolean);
const KEY = 'sk_load_test_key_0123456789abcdef';
const PG_STATEMENTS = Boolean(process.env.BENCH_PG_STATEMENTS);

const children: (StepwiseProcess & { role: 'api' | 'worker' })[] = [];

async function start(role: 'api' | 'worker', url: string, smtpUrl: string, ready: RegExp): Promise<RegExpExecArray> {
  const started = await startStepwise(
    {
      DATABASE_URL: url,
      STEPWISE_API_KEY: KEY,
      STEPWISE_ROLE: role,
      SMTP_URL: smtpUrl,
      PORT: '0',
      LOG_LEVEL: 'info',
      WORKER_CONCURRENCY: WORKERS,
      // One API key drives all the load: the per-key rate limit would measure itself.
      RATE_LIMIT_PER_MINUTE: '0',
      // …and its 1,000 subscriptions would meet the per-key cap.
      MAX_SUBSCRIPTIONS_PER_KEY: String(SUBSCRIPTIONS),
    },
    ready,
    NODE_ARGS,
    BUILD,
  );
  children.push({ ...started, role });
  if (NODE_ARGS.length) console.log(`${role} process: pid ${started.child.pid}`);
  return started.ready;
}

/** CPU seconds (Linux /proc) of the API and worker processes, this generator, and the Postgres backends serving this database. */
async function cpuSeconds(prisma: { $queryRaw: (q: TemplateStringsArray) => Promise<unknown> }) {
  const ticks = (pid: number) => {
    try {
      const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
      return (Number(fields[11]) + Number(fields[12])) / 100;
    } catch {
      return 0; // not on Linux, or gone
    }
  };
  const backends = (await prisma.$queryRaw`SELECT pid FROM pg_stat_activity WHERE datname = current_database()`) as { pid: number }[];
  const processes = [
    ...children.map((c) => ({ pid: c.child.pid!, role: c.role })),
    { pid: process.pid, role: 'generator' },
    // A backend that connected during the load counts from its start: a slight over-count.
    ...backends.map((b) => ({ pid: b.pid, role: 'postgres' })),
  ];
  return new Map(processes.map((p) => [p.pid, { role: p.role, seconds: ticks(p.pid) }]));
}

/** The load window's statements in this database by total time (top-level ones: a trigger's statements are inside their caller's time). */
async function printStatements(prisma: { $queryRawUnsafe: <T>(q: string) => Promise<T> }, events: number) {
  const rows = await prisma.$queryRawUnsafe<{ toplevel: boolean; calls: bigint; total: number; plan: number; rows: bigint; query: string }[]>(
    `SELECT toplevel, calls, total_exec_time + total_plan_time AS total, total_plan_time AS plan, rows, query FROM pg_stat_statements
     WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) ORDER BY total DESC`,
  );
  if (process.env.BENCH_PG_STATEMENTS!.includes('/')) {
    writeFileSync(process.env.BENCH_PG_STATEMENTS!, JSON.stringify(rows, (_, v) => (typeof v === 'bigint' ? Number(v) : v), 2));
  }
  const top = rows.filter((r) => r.toplevel);
  const sum = top.reduce((a, r) => a + r.total, 0);
  const planned = top.reduce((a, r) => a + r.plan, 0);
  console.log(`pg_stat_statements: ${(sum / 1000).toFixed(1)} s of statement time (top level), ${(sum / Math.max(1, events)).toFixed(2)} ms per trackEvent, of which planning ${(planned / 1000).toFixed(1)} s (counted with -c pg_stat_statements.track_planning=on in BENCH_PG_FLAGS)`);
  console.log('  share  total ms    calls  ms/call   rows/call  statement');
  for (const r of rows.slice(0, 40)) {
    const calls = Number(r.calls);
    const text = r.query.replace(/\s+/g, ' ').slice(0, 150);
    console.log(
      `  ${r.toplevel ? `${((100 * r.total) / sum).toFixed(1).padStart(4)}%` : ' (in)'} ${r.total.toFixed(0).padStart(9)} ${String(calls).padStart(8)} ${(r.total / calls).toFixed(3).padStart(8)} ${(Number(r.rows) / calls).toFixed(1).padStart(11)}  ${text}`,
    );
  }
}

function percentile(sorted: number[], p: number): number {
  if (!sorted.length) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

export async function benchLoad(): Promise<void> {
  if (BUILD === 'dist') await buildDist();
  // Commit timestamps: each change's lag is measured from its writer's commit (pg_xact_commit_timestamp).
  const bench = await benchDatabase({ postgresFlags: ['-c', 'track_commit_timestamp=on'] });
  // It keeps each message's Message-ID without parsing the message: the sink and the
  // generator share the machine with what they measure, and should cost it little.
  const smtp = await startBenchSmtpSink();
  try {
    // The first API process creates the key's workspace; the others find it.
    const apiA = Number((await start('api', bench.url, smtp.url, /GraphiQL at http:\/\/localhost:(\d+)\/graphql/))[1]);
    const [apiB] = await Promise.all([
      start('api', bench.url, smtp.url, /GraphiQL at http:\/\/localhost:(\d+)\/graphql/).then((m) => Number(m[1])),
      start('worker', bench.url, smtp.url, /workers are running/),
      start('worker', bench.url, smtp.url, /workers are running/),
    ]);
    const ports = [apiA, apiB!];
    // node:http over kept-alive connections rather than fetch(): undici's fetch cost
    // the generator more CPU per call than the request it measures is worth. An idle
    // connection is closed after 4 s, before the server's 5 s keep-alive timeout
    // does (a request sent as the server closes would fail with ECONNRESET).
    const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY, timeout: 4_000 });
    const gql = (port: number, query: string, variables?: object) =>
      new Promise<any>((resolve, reject) => {
        const body = JSON.stringify({ query, variables });
        const req = request(
          { host: '127.0.0.1', port, path: '/graphql', method: 'POST', agent,
            headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), authorization: `Bearer ${KEY}` } },
          (response) => {
            const chunks: Buffer[] = [];
            response.on('data', (chunk: Buffer) => chunks.push(chunk));
            response.on('end', () => {
              try {
                const answer = JSON.parse(Buffer.concat(chunks).toString()) as { data?: any; errors?: unknown[] };
                if (response.statusCode !== 200 || answer.errors) reject(new Error(`HTTP ${response.statusCode}: ${JSON.stringify(answer.errors)}`));
                else resolve(answer.data);
              } catch (error) {
                reject(error);
              }
            });
            response.on('error', reject);
          },
        );
        req.on('error', reject);
        req.end(body);
      });

    const created = await gql(apiA, `mutation { createSequence(input: { name: "Load", trigger: EVENT_RECEIVED, eventName: "load.event", steps: [
      { subject: "First {{event.n}}", blocks: [{ type: "text", text: "Hello {{subscriber.email}}" }] },
      { subject: "Second {{event.n}}", blocks: [{ type: "text", text: "Again" }] } ] }) { sequence { id } errors { message } } }`);
    const sequenceId = created.createSequence.sequence.id as string;
    await gql(apiA, `mutation($id: ID!) { enableSequence(id: $id) { errors { message } } }`, { id: sequenceId });

    // One subscriber per subscription, each followed on one of the API processes.
    const subscriberIds: string[] = [];
    for (let from = 0; from < SUBSCRIPTIONS; from += 500) {
      const emails = Array.from({ length: Math.min(500, SUBSCRIPTIONS - from) }, (_, k) => ({ email: `load${from + k}@example.com` }));
      const res = await gql(apiA, `mutation($s: [SubscriberInput!]!) { upsertSubscribers(input: { subscribers: $s }) { subscribers { id } } }`, { s: emails });
      subscriberIds.push(...res.upsertSubscribers.subscribers.map((s: { id: string }) => s.id));
    }
    const clients: Client[] = ports.map((port) =>
      createClient({ url: `ws://127.0.0.1:${port}/graphql`, webSocketImpl: WebSocket, connectionParams: { Authorization: `Bearer ${KEY}` }, retryAttempts: 0 }),
    );
    const received = new Array<number>(SUBSCRIPTIONS).fill(0);
    const cursors = Array.from({ length: SUBSCRIPTIONS }, () => [] as string[]);
    // Every change as received: its log id (the cursor's low part), status and arrival (epoch ms, the clock Postgres stamps commits with).
    const arrivals: { id: bigint; status: string; at: number }[] = [];
    // Change lag: from trackEvent's answer (its transaction has committed) to the
    // run's start reaching the subscription; a start that arrives first counts 0.
    const startedAt = Array.from({ length: SUBSCRIPTIONS }, () => [] as number[]);
    const answeredAt = Array.from({ length: SUBSCRIPTIONS }, () => [] as number[]);
    const tookFor = Array.from({ length: SUBSCRIPTIONS }, () => [] as number[]);
    let subscriptionErrors = 0;
    let endedEarly = 0;
    let unsubscribing = false;
    // Each follows its subscriber from the start of the (still empty) change log, after: "0".
    // Without a cursor a subscription starts when the server has set it up, and on a busy
    // machine some of the 1,000 were set up only after the first runs had started: they
    // rightly missed those changes, and the check below counted them as lost.
    const unsubscribes = subscriberIds.map((id, i) =>
      clients[i % 2]!.subscribe<{ enrollmentChanged: { status: string } }>(
        { query: `subscription($s: ID) { enrollmentChanged(subscriberId: $s, after: "0") { cursor status } }`, variables: { s: id } },
        {
          next: (result) => {
            received[i]! += 1;
            const cursor = (result.data?.enrollmentChanged as { cursor?: string })?.cursor;
            cursors[i]!.push(`${result.data?.enrollmentChanged.status}@${cursor}`);
            if (cursor) arrivals.push({ id: BigInt(cursor) % 10n ** 19n, status: result.data!.enrollmentChanged.status, at: performance.timeOrigin + performance.now() });
            if (result.data?.enrollmentChanged.status === 'ACTIVE') startedAt[i]!.push(performance.now());
          },
          error: () => void (subscriptionErrors += 1),
          // The server never ends a subscription on its own: one that ends before the unsubscribe below would miss changes.
          complete: () => void (endedEarly += unsubscribing ? 0 : 1),
        },
      ),
    );
    await new Promise((r) => setTimeout(r, 2_000));

    // Sustained load: trackEvent and queries, CONCURRENCY in flight, for SECONDS.
    const latencies = { trackEvent: [] as number[], query: [] as number[] };
    let errors = 0;
    const errorSamples = new Set<string>();
    let events = 0;
    const eventsFor = new Array<number>(SUBSCRIPTIONS).fill(0);
    const loadStart = performance.now();
    console.log(`load started at ${new Date().toISOString()}${WARMUP > 0 ? `, measured after ${WARMUP} s of warm-up and ANALYZE` : ''}`);
    // The measured window: from the end of the warm-up's ANALYZE (at once without a warm-up) for SECONDS.
    let started = Infinity;
    let deadline = Infinity;
    let cpuBefore = new Map<number, { role: string; seconds: number }>();
    // The warm-up's calls count for the checks (every email once, every change once), not in the figures.
    const cold = { trackEvent: [] as number[] };
    const measuring = (async () => {
      if (WARMUP > 0) {
        await new Promise((r) => setTimeout(r, WARMUP * 1000));
        await bench.prisma.$executeRawUnsafe('ANALYZE');
      }
      if (PG_STATEMENTS) {
        await bench.prisma.$executeRawUnsafe('CREATE EXTENSION IF NOT EXISTS pg_stat_statements');
        await bench.prisma.$queryRawUnsafe('SELECT pg_stat_statements_reset()');
      }
      cpuBefore = await cpuSeconds(bench.prisma);
      started = performance.now();
      deadline = started + SECONDS * 1000;
      if (WARMUP > 0) console.log(`measured from ${new Date().toISOString()}`);
    })();
    await Promise.all([
      measuring,
      ...Array.from({ length: CONCURRENCY }, async (_, lane) => {
        // The schedule starts again with the measured window: calls the warm-up fell behind on are not made up in it.
        let schedule = { from: loadStart, n: 0 };
        for (let n = 0; performance.now() < deadline; n++) {
          if (RATE > 0) {
            if (schedule.from !== started && performance.now() >= started) schedule = { from: started, n };
            // Each lane's calls on their own schedule, the lanes staggered: RATE calls a second in all.
            const slot = schedule.from + (((n - schedule.n) * CONCURRENCY + lane) * 1000) / RATE;
            if (slot > deadline) break;
            if (slot > performance.now()) await new Promise((r) => setTimeout(r, slot - performance.now()));
          }
          const port = ports[(lane + n) % 2]!;
          const t0 = performance.now();
          const measured = t0 >= started;
          try {
            if (n % 3 === 2) {
              await gql(port, `query($id: ID!) { sequence(id: $id) { stats { enrolled completed sent } enrollments(first: 10) { totalCount edges { node { status } } } } }`, { id: sequenceId });
              if (measured) latencies.query.push(performance.now() - t0);
            } else {
              const i = (lane * 7919 + n) % SUBSCRIPTIONS;
              await gql(port, `mutation($input: TrackEventInput!) { trackEvent(input: $input) { enrollments { id } errors { message } } }`, {
                input: { email: `load${i}@example.com`, event: 'load.event', properties: { n } },
              });
              const answered = performance.now();
              (measured ? latencies : cold).trackEvent.push(answered - t0);
              answeredAt[i]!.push(answered);
              tookFor[i]!.push(answered - t0);
              events += 1;
              eventsFor[i]! += 1;
            }
          } catch (error) {
            errors += 1;
            if (errorSamples.size < 3) errorSamples.add(String(error).slice(0, 200));
          }
        }
      }),
    ]);
    const elapsed = (performance.now() - started) / 1000;
    const cpuAfter = await cpuSeconds(bench.prisma);
    if (PG_STATEMENTS) await printStatements(bench.prisma, latencies.trackEvent.length);
    const cpuSecondsOf = (role: string) => {
      let seconds = 0;
      for (const [pid, after] of cpuAfter) if (after.role === role) seconds += after.seconds - (cpuBefore.get(pid)?.seconds ?? 0);
      return seconds;
    };
    const ROLES = ['api', 'worker', 'generator', 'postgres'];
    // Cores, and CPU per trackEvent (with its share of the queries, emails and changes): the cores
    // are shared, so a slower part takes them from the others; the milliseconds show what each costs.
    const secondsByRole = ROLES.map(cpuSecondsOf);
    const cores = secondsByRole.map((seconds) => (seconds / elapsed).toFixed(2)).join(' / ');
    const msPerTrackEvent = secondsByRole.map((seconds) => (1000 * seconds) / Math.max(1, latencies.trackEvent.length));
    // The load window on the monotonic clock the profiles' timestamps use (µs).
    if (NODE_ARGS.length) console.log(`load window: ${(process.hrtime.bigint() / 1000n - BigInt(Math.round(elapsed * 1e6)))} .. ${process.hrtime.bigint() / 1000n} µs`);

    // Drain: every run completes and every subscription sees its two changes per run.
    const drainStart = performance.now();
    let progress = '';
    let progressAt = drainStart;
    for (;;) {
      const res = await gql(apiA, `query($id: ID!) { sequence(id: $id) { stats { enrolled completed } } }`, { id: sequenceId });
      const seen = received.reduce((a, b) => a + b, 0);
      if (res.sequence.stats.completed === res.sequence.stats.enrolled && seen >= events * 2) break;
      // A refused subscription never sees its changes: nothing to wait for.
      if (subscriptionErrors > 0) break;
      // Nothing moved for a minute (the feeds poll every 2 s): what is missing stays missing.
      const now = `${res.sequence.stats.completed}/${seen}`;
      if (now !== progress) [progress, progressAt] = [now, performance.now()];
      else if (performance.now() - progressAt > 60_000) break;
      await new Promise((r) => setTimeout(r, 1_000));
    }
    const drainSeconds = (performance.now() - drainStart) / 1000;
    await new Promise((r) => setTimeout(r, 2_000));
    unsubscribing = true;
    for (const stop of unsubscribes) stop();
    for (const client of clients) await client.dispose();
    agent.destroy();

    // Each email of the measured window from its step's due time to the relay's acceptance (as
    // `npm run bench` measures it): the workers' share of the machine shows here, not in trackEvent's figures.
    const [sendLag] = await bench.prisma.$queryRawUnsafe<{ p50: number | null; p99: number | null; max: number | null; n: bigint }[]>(
      `SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY ms) AS p50, percentile_disc(0.99) WITHIN GROUP (ORDER BY ms) AS p99, max(ms) AS max, count(*) AS n
       FROM (SELECT (extract(epoch FROM (m."sentAt" - s."scheduledAt")) * 1000)::float8 AS ms
             FROM "StepRun" s JOIN "Message" m ON m.id = s."messageId"
             WHERE s."scheduledAt" >= $1::timestamp(3) AND s."scheduledAt" < $2::timestamp(3) AND m."sentAt" IS NOT NULL) x`,
      new Date(performance.timeOrigin + started),
      new Date(performance.timeOrigin + started + elapsed * 1000),
    );
    const expected = events * 2;
    const messageIds = new Set(smtp.messageIds);
    const wrongSubscriptions = received.filter((count, i) => count !== eventsFor[i]! * 2).length;
    // The first few wrong ones: what each received against what the log holds for its subscriber.
    for (const i of received.flatMap((count, i) => (count !== eventsFor[i]! * 2 ? [i] : [])).slice(0, 5)) {
      const log = await bench.prisma.$queryRawUnsafe<{ xid: bigint; id: bigint; status: string; enrollment: string; at: Date }[]>(
        `SELECT xid, id, status::text, "enrollmentId"::text AS enrollment, "occurredAt" AS at FROM "EnrollmentChange" WHERE "subscriberId" = (SELECT id FROM "Subscriber" WHERE email = $1) ORDER BY xid, id`,
        `load${i}@example.com`,
      );
      console.log(`subscription ${i}: received ${cursors[i]!.join(' ')}`);
      for (const row of log) console.log(`  log: xid ${row.xid} id ${row.id} ${row.status} run ${row.enrollment} at ${row.at.toISOString()}`);
    }
    const sorted = (xs: number[]) => [...xs].sort((a, b) => a - b);
    const te = sorted(latencies.trackEvent);
    // Two calls for one subscriber in flight at once may pair crosswise: rare, and then both lags are near.
    const lag = sorted(
      answeredAt.flatMap((answers, i) => answers.flatMap((at, k) => (at >= started ? [Math.max(0, (startedAt[i]![k] ?? Infinity) - at)] : []))).filter(Number.isFinite),
    );
    const q = sorted(latencies.query);
    const coldTrackEvent = sorted(cold.trackEvent);
    // From each change's commit (its writer's, as Postgres stamped it) to its arrival: run starts are
    // trackEvent's, in the API process holding the subscription; completions a worker's, in another process.
    const stamped = (await bench.prisma.$queryRawUnsafe<{ track_commit_timestamp: string }[]>('SHOW track_commit_timestamp'))[0]?.track_commit_timestamp;
    const commitLag = new Map<string, number[]>();
    // Changes committed in the measured window count in commitLag, the warm-up's in coldLag; with no
    // warm-up, the ones after the first 20 s (JIT, prepared statements, the planner's first statistics) also in warmLag.
    const measuredFrom = performance.timeOrigin + started;
    const warmLag: number[] = [];
    const coldLag: number[] = [];
    if (stamped === 'on') {
      const committedAt = new Map<bigint, number>();
      for (let from = 0; from < arrivals.length; from += 5_000) {
        const ids = arrivals.slice(from, from + 5_000).map((a) => a.id.toString());
        const rows = await bench.prisma.$queryRawUnsafe<{ id: bigint; at: number }[]>(
          `SELECT id, (extract(epoch FROM pg_xact_commit_timestamp(xmin)) * 1000)::float8 AS at FROM "EnrollmentChange" WHERE id = ANY($1::bigint[])`,
          ids,
        );
        for (const row of rows) committedAt.set(BigInt(row.id), Number(row.at));
      }
      for (const a of arrivals) {
        const committed = committedAt.get(a.id);
        if (committed === undefined) continue;
        const lag = Math.max(0, a.at - committed);
        if (committed < measuredFrom) {
          coldLag.push(lag);
          continue;
        }
        const lags = commitLag.get(a.status) ?? [];
        lags.push(lag);
        commitLag.set(a.status, lags);
        if (WARMUP === 0 && committed >= measuredFrom + 20_000) warmLag.push(lag);
      }
    }
    const lagOf = (statuses: string[] | 'warm' | 'cold') => {
      const xs = sorted(statuses === 'warm' ? warmLag : statuses === 'cold' ? coldLag : statuses.flatMap((s) => commitLag.get(s) ?? []));
      return stamped !== 'on' ? 'n/a (track_commit_timestamp is off)' : `${percentile(xs, 50).toFixed(0)} ms / ${percentile(xs, 99).toFixed(0)} ms (${xs.length})`;
    };
    if (process.env.BENCH_LAG_DUMP) {
      const pairs = answeredAt.flatMap((answers, i) => answers.map((at, k) => [at - started, (startedAt[i]![k] ?? Infinity) - at, i, tookFor[i]![k]]));
      writeFileSync(process.env.BENCH_LAG_DUMP, JSON.stringify(pairs));
    }
    const rows: Row[] = [
      ['machine', `${os.cpus().length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB, ${bench.where}`],
      ['topology', `2 API + 2 worker processes (WORKER_CONCURRENCY=${WORKERS}), ${RATE > 0 ? `${RATE} calls/s offered, at most ${CONCURRENCY}` : CONCURRENCY} requests in flight`],
      ['processes run as', STEPWISE_COMMANDS[BUILD]],
      ['duration', `${elapsed.toFixed(0)} s${WARMUP > 0 ? `, after ${((started - loadStart) / 1000).toFixed(0)} s of warm-up and ANALYZE` : ''}`],
      ['live subscriptions', `${SUBSCRIPTIONS} (${subscriptionErrors} errors, ${endedEarly} ended by the server)`],
      ['trackEvent calls', `${te.length} (${(te.length / elapsed).toFixed(1)}/s)`],
      ['trackEvent p50 / p99', `${percentile(te, 50).toFixed(0)} ms / ${percentile(te, 99).toFixed(0)} ms`],
      ['queries', `${q.length} (${(q.length / elapsed).toFixed(1)}/s)`],
      ['query p50 / p99', `${percentile(q, 50).toFixed(0)} ms / ${percentile(q, 99).toFixed(0)} ms`],
      ['request errors', `${errors}${errorSamples.size ? ` (${[...errorSamples].join('; ')})` : ''}`],
      ['CPU cores used: API / workers / generator / Postgres', `${cores} (load average ${os.loadavg()[0]!.toFixed(1)})`],
      ['CPU ms per trackEvent: API / workers / generator / Postgres', `${msPerTrackEvent.map((ms) => ms.toFixed(1)).join(' / ')} (${msPerTrackEvent.reduce((a, b) => a + b, 0).toFixed(1)} in all)`],
      ['run start → subscription p50 / p99', `${percentile(lag, 50).toFixed(0)} ms / ${percentile(lag, 99).toFixed(0)} ms (after trackEvent answered)`],
      ['change commit → subscription p50 / p99: every change', lagOf(['ACTIVE', 'COMPLETED'])],
      ['  run starts (trackEvent, the same API process)', lagOf(['ACTIVE'])],
      ['  run completions (a worker process)', lagOf(['COMPLETED'])],
      ...(WARMUP > 0
        ? [
            [`warm-up (${WARMUP} s, not in the figures above): trackEvent`, `${coldTrackEvent.length} (${(coldTrackEvent.length / ((started - loadStart) / 1000)).toFixed(1)}/s), p50 ${percentile(coldTrackEvent, 50).toFixed(0)} ms / p99 ${percentile(coldTrackEvent, 99).toFixed(0)} ms`],
            ['warm-up: change commit → subscription p50 / p99', lagOf('cold')],
          ]
        : [['  every change committed after the first 20 s', lagOf('warm')]]),
      ['email due → sent p50 / p99 / max (steps due in the measured window)', `${(sendLag?.p50 ?? 0).toFixed(0)} ms / ${(sendLag?.p99 ?? 0).toFixed(0)} ms / ${(sendLag?.max ?? 0).toFixed(0)} ms (${sendLag?.n ?? 0})`],
      ['drain after load', `${drainSeconds.toFixed(0)} s`],
      ['emails expected / distinct sent / SMTP deliveries', `${expected} / ${messageIds.size} / ${smtp.messageIds.length}`],
      ['every email sent exactly once', messageIds.size === expected && smtp.messageIds.length === expected ? 'yes' : 'NO'],
      ['subscription changes received / expected', `${received.reduce((a, b) => a + b, 0)} / ${expected}`],
      ['subscriptions that missed or doubled a change', String(wrongSubscriptions)],
    ].map(([measure, value]) => ({ measure: measure!, value: value! }));
    printTable(`load: ${SECONDS} s of trackEvent + queries with ${SUBSCRIPTIONS} live subscriptions`, rows);
  } finally {
    // A graceful stop (profiles get written), bounded.
    const stopped = Promise.all(children.map((c) => c.stop()));
    await Promise.race([stopped, new Promise((r) => setTimeout(r, 30_000))]);
    for (const { child } of children) if (child.exitCode === null) child.kill('SIGKILL');
    await smtp.close();
    // BENCH_LOAD_KEEP=1 (with DATABASE_URL): the database stays, to look into afterwards.
    if (process.env.BENCH_LOAD_KEEP && process.env.DATABASE_URL) console.log(`kept the database: ${bench.url}`);
    else await bench.close();
  }
}
