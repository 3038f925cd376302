// Operations routes: /healthz (the process answers), /readyz (database
// reachable, every migration in prisma/migrations applied, pg-boss started, not
// shutting down) and /metrics (Prometheus text format).
import type { IncomingMessage, ServerResponse } from 'node:http';
import { readMigrations } from '../db/schema-engine.js';
import { boss } from '../engine/boss.js';
import type { PrismaClient } from '../generated/prisma/client.js';
import type { Metrics } from './metrics.js';

export interface OpsRouteOptions {
  prisma: PrismaClient;
  metrics: Metrics;
  isDraining: () => boolean;
  /** How long each readiness check may take. */
  checkTimeoutMs?: number;
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

  async function readiness() {
    const checks: Record<string, Check> = {
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
      jobQueue: await check(async () => {
        boss();
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
      void options.metrics.render().then(({ contentType, body }) => {
        res.writeHead(200, { 'content-type': contentType, 'cache-control': 'no-store' }).end(body);
      });
      return true;
    }
    return false;
  };
}
