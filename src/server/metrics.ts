// Prometheus metrics (prom-client), one registry per app. HTTP and GraphQL
// counters are this process's; job and email figures are read from Postgres, so
// they describe the whole deployment (every worker) whichever API process is
// scraped. Those counts scan tables, so they are reused for `cacheMs` (scrapes
// in between run no query) and concurrent scrapes share one refresh.
import type { IncomingMessage } from 'node:http';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { PrismaClient } from '../generated/prisma/client.js';

const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export interface MetricsOptions {
  /** How long the database figures are reused (default 5 s). */
  cacheMs?: number;
  /** Milliseconds of a monotonic clock (tests may pass their own). */
  now?: () => number;
}

export function createMetrics(prisma: PrismaClient, options: MetricsOptions = {}) {
  const cacheMs = options.cacheMs ?? 5000;
  const now = options.now ?? (() => performance.now());
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'stepwise_' });

  const httpRequests = new Counter({
    name: 'stepwise_http_requests_total',
    help: 'HTTP requests answered, by method, route and status',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [registry],
  });
  const httpDuration = new Histogram({
    name: 'stepwise_http_request_duration_seconds',
    help: 'HTTP request latency (until the response is finished)',
    labelNames: ['method', 'route'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  });
  const graphqlOperations = new Counter({
    name: 'stepwise_graphql_operations_total',
    help: 'GraphQL operations executed, by type, root field and outcome (ok or error)',
    labelNames: ['type', 'field', 'outcome'] as const,
    registers: [registry],
  });
  const graphqlDuration = new Histogram({
    name: 'stepwise_graphql_operation_duration_seconds',
    help: 'GraphQL execution latency, by type and root field',
    labelNames: ['type', 'field'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  });
  const graphqlRefused = new Counter({
    name: 'stepwise_graphql_refused_total',
    help: 'GraphQL documents refused before execution (parse errors, validation, limits)',
    labelNames: ['stage'] as const,
    registers: [registry],
  });
  const rateLimited = new Counter({
    name: 'stepwise_rate_limited_total',
    help: 'Operations refused by the per-API-key rate limit',
    registers: [registry],
  });
  const activeSubscriptions = new Gauge({
    name: 'stepwise_active_subscriptions',
    help: 'GraphQL subscriptions open in this process (WebSocket and SSE)',
    registers: [registry],
  });

  // Opens and clicks taken in but not written yet: a backlog that grows while Postgres
  // is slow or held, and that a graceful shutdown writes before the process exits.
  let unwrittenTracking = () => 0;
  new Gauge({
    name: 'stepwise_tracking_unwritten',
    help: 'Opens and clicks this process took in and has not written yet',
    registers: [registry],
    collect() {
      this.set(unwrittenTracking());
    },
  });

  // Read from Postgres when scraped.
  const jobs = new Gauge({
    name: 'stepwise_jobs',
    help: 'pg-boss jobs by queue and state (whole deployment)',
    labelNames: ['queue', 'state'] as const,
    registers: [registry],
  });
  const jobLag = new Gauge({
    name: 'stepwise_job_lag_seconds',
    help: 'Age of the oldest job per queue that is due but not yet started (0 when none)',
    labelNames: ['queue'] as const,
    registers: [registry],
  });
  const emails = new Gauge({
    name: 'stepwise_emails',
    help: 'Emails by delivery status (whole deployment): sent counts every message that left, failed those given up',
    labelNames: ['status'] as const,
    registers: [registry],
  });

  async function collectDatabaseFigures() {
    const [jobRows, emailRows] = await Promise.all([
      prisma.$queryRawUnsafe<{ queue: string; state: string; count: bigint; lag: number | null }[]>(
        `SELECT name AS queue, state::text AS state, count(*) AS count,
                max(extract(epoch FROM now() - start_after)) FILTER (WHERE state IN ('created', 'retry') AND start_after <= now()) AS lag
           FROM pgboss.job GROUP BY name, state`,
      ),
      prisma.$queryRawUnsafe<{ sent: bigint; failed: bigint }[]>(
        `SELECT count(*) FILTER (WHERE "sentAt" IS NOT NULL) AS sent, count(*) FILTER (WHERE status = 'FAILED') AS failed FROM "Message"`,
      ),
    ]);
    jobs.reset();
    jobLag.reset();
    const lags = new Map<string, number>();
    for (const row of jobRows) {
      jobs.set({ queue: row.queue, state: row.state }, Number(row.count));
      lags.set(row.queue, Math.max(lags.get(row.queue) ?? 0, Number(row.lag ?? 0)));
    }
    for (const [queue, lag] of lags) jobLag.set({ queue }, lag);
    emails.set({ status: 'sent' }, Number(emailRows[0]?.sent ?? 0));
    emails.set({ status: 'failed' }, Number(emailRows[0]?.failed ?? 0));
  }

  let refreshedAt: number | undefined;
  let refreshing: Promise<void> | undefined;
  /** Refreshes the database figures unless they are younger than cacheMs; one refresh at a time. */
  function refreshDatabaseFigures(): Promise<void> {
    if (refreshing) return refreshing;
    if (refreshedAt !== undefined && now() - refreshedAt < cacheMs) return Promise.resolve();
    refreshing = collectDatabaseFigures()
      .then(() => {
        refreshedAt = now();
      })
      // Left stale while the database is down; the next scrape tries again.
      .catch(() => undefined)
      .finally(() => {
        refreshing = undefined;
      });
    return refreshing;
  }

  return {
    registry,
    httpRequests,
    httpDuration,
    graphqlOperations,
    graphqlDuration,
    graphqlRefused,
    rateLimited,
    activeSubscriptions,
    /** The exposition text; database figures are refreshed first when older than cacheMs. */
    async render(): Promise<{ contentType: string; body: string }> {
      await refreshDatabaseFigures();
      return { contentType: registry.contentType, body: await registry.metrics() };
    },
    /** Where stepwise_tracking_unwritten is read from (the app's tracking recorder). */
    countUnwrittenTracking(source: () => number) {
      unwrittenTracking = source;
    },
    /** Times one HTTP request; the route label is one of a fixed few, never the raw URL. */
    observeHttp(req: IncomingMessage, res: { statusCode: number; once(event: 'close', fn: () => void): unknown }) {
      const stop = httpDuration.startTimer({ method: methodLabel(req.method), route: routeLabel(req.url) });
      res.once('close', () => {
        stop();
        httpRequests.inc({ method: methodLabel(req.method), route: routeLabel(req.url), status: String(res.statusCode) });
      });
    },
  };
}

export type Metrics = ReturnType<typeof createMetrics>;

function methodLabel(method: string | undefined): string {
  return ['GET', 'POST', 'OPTIONS', 'HEAD'].includes(method ?? '') ? method! : 'OTHER';
}

export function routeLabel(url: string | undefined): string {
  const path = (url ?? '/').split('?')[0]!;
  if (['/graphql', '/healthz', '/readyz', '/metrics'].includes(path)) return path;
  if (path.startsWith('/preview/')) return '/preview';
  return 'other';
}
