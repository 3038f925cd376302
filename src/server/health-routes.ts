// Operations routes: /healthz (the process answers), /readyz (database
// reachable, every migration in prisma/migrations applied, pg-boss started, not
// shutting down) and /metrics (Prometheus text format, behind a bearer token
// when one is configured). Both are unauthenticated by default, so neither may
// cost the database more than one round of queries per cache window.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { readMigrations } from '../db/schema-engine.js';
import type { PrismaClient } from '../generated/prisma/client.js';
import type { Metrics } from './metrics.js';

export interface OpsRouteOptions {
  prisma: PrismaClient;
  /** Whether the job queue is started. */
  jobQueueRunning: () => boolean;
  metrics: Metrics;
  isDraining: () => boolean;
  /** How long each readiness check may take. */
  checkTimeoutMs?: number;
  /** How long the database and migration checks are reused (default 1 s). */
  readinessCacheMs?: number;
  /** When set, /metrics answers only `Authorization: Bearer <token>`. */
  metricsToken?: string;
  /** Milliseconds of a monotonic clock (tests may pass their own). */
  now?: () => number;
}

const digest = (value: string) => createHash('sha256').update(value).digest();

/** Compares digests, so neither the token's length nor its content leaks through timing. */
function bearerMatches(header: string | undefined, token: string): boolean {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  return match !== null && timingSafeEqual(digest(match[1]!), digest(token));
}

type Check = { ok: boolean; error?: string };

const within = <T>(promise: Promise<T>, ms: number) =>
  Promise.race([
    promise,
    new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms).unref()),
  ]);

export function createOpsRoutes(options: OpsRouteOptions) {
  const timeout = options.checkTimeoutMs ?? 2000;
  let expected: Promise<string[]> | undefined;
  const expectedMigrations = () =>
    (expected ??= readMigrations().then((list) => list.migrationDirectories.map((d) => d.path)));

  async function check(run: () => Promise<void>): Promise<Check> {
    try {
      await within(run(), timeout);
      return { ok: true };
    } catch (error) {
      // Only the message: connection strings and SQL stay in the server log.
      return { ok: false, error: error instanceof Error ? error.message.split('\n')[0]!.slice(0, 200) : 'failed' };
    }
  }

  const readinessCacheMs = options.readinessCacheMs ?? 1000;
  const now = options.now ?? (() => performance.now());
  let stored: { at: number; checks: Promise<Record<string, Check>> } | undefined;
  /** The database checks, shared by every /readyz within the cache window (and while one runs). */
  function databaseChecks(): Promise<Record<string, Check>> {
    if (stored && now() - stored.at < readinessCacheMs) return stored.checks;
    const checks = runDatabaseChecks();
    stored = { at: now(), checks };
    // The window starts when the answer is in, so a slow check is not repeated at once.
    void checks.then(() => {
      if (stored?.checks === checks) stored.at = now();
    });
    return checks;
  }

  async function runDatabaseChecks(): Promise<Record<string, Check>> {
    return {
      database: await check(async () => {
        await options.prisma.$queryRawUnsafe('SELECT 1');
      }),
      migrations: await check(async () => {
        const rows = await options.prisma.$queryRawUnsafe<{ migration_name: string }[]>(
          'SELECT migration_name FROM _prisma_migrations WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL',
        );
        const applied = new Set(rows.map((r) => r.migration_name));
        const missing = (await expectedMigrations()).filter((name) => !applied.has(name));
        if (missing.length) throw new Error(`not applied: ${missing.join(', ')}`);
      }),
    };
  }

  async function readiness() {
    const checks: Record<string, Check> = {
      ...(await databaseChecks()),
      jobQueue: await check(async () => {
        if (!options.jobQueueRunning()) throw new Error('job queue not started');
      }),
      accepting: options.isDraining() ? { ok: false, error: 'shutting down' } : { ok: true },
    };
    return { ready: Object.values(checks).every((c) => c.ok), checks };
  }

  /** Answers the request when it is one of these routes; false otherwise. */
  return function serveOpsRoute(req: IncomingMessage, res: ServerResponse): boolean {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') return false;
    if (path === '/healthz') {
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}');
      return true;
    }
    if (path === '/readyz') {
      void readiness().then(({ ready, checks }) => {
        res
          .writeHead(ready ? 200 : 503, { 'content-type': 'application/json', 'cache-control': 'no-store' })
          .end(JSON.stringify({ status: ready ? 'ready' : 'not ready', checks }));
      });
      return true;
    }
    if (path === '/metrics') {
      if (options.metricsToken !== undefined && !bearerMatches(req.headers.authorization, options.metricsToken)) {
        res
          .writeHead(401, { 'content-type': 'text/plain', 'www-authenticate': 'Bearer realm="metrics"', 'cache-control': 'no-store' })
          .end('Send the metrics token: Authorization: Bearer <METRICS_TOKEN>\n');
        return true;
      }
      void options.metrics.render().then(({ contentType, body }) => {
        res.writeHead(200, { 'content-type': contentType, 'cache-control': 'no-store' }).end(body);
      });
      return true;
    }
    return false;
  };
}
