// One Postgres for the whole `npm run bench`, so ceilings and engine figures are
// measured on the same server: DATABASE_URL's when set, else one embedded Postgres
// started on first use and stopped by `stopBenchServer()`. Each benchmark gets a
// fresh, migrated database on it (`benchDatabase()`); `close()` drops it.
import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { createPrismaClient } from '../src/db/client.js';
import { migrate } from '../src/db/migrate.js';
import { adminUrlFor, dropDatabase, ensureDatabase, freePort, startEmbeddedPostgres } from '../src/db/postgres.js';

const dataDir = `.data/bench-postgres/${process.pid}`;
let server: Promise<{ url: string; stop: () => Promise<void> }> | undefined;

/** `flags`: more postgres flags, for the embedded server when this call starts it. */
function benchServer(flags: string[] = []) {
  server ??= process.env.DATABASE_URL
    ? Promise.resolve({ url: process.env.DATABASE_URL, stop: async () => {} })
    : freePort().then((port) =>
        startEmbeddedPostgres({
          dataDir,
          port,
          database: 'postgres',
          postgresFlags: [
            // BENCH_PG_STATEMENTS=1: pg_stat_statements loaded, for a benchmark that reports where Postgres' time goes.
            ...(process.env.BENCH_PG_STATEMENTS ? ['-c', 'shared_preload_libraries=pg_stat_statements', '-c', 'pg_stat_statements.track=all'] : []),
            // BENCH_PG_FLAGS: more of postgres' own flags, e.g. "-c autovacuum_naptime=5".
            ...(process.env.BENCH_PG_FLAGS ?? '').split(' ').filter(Boolean),
            ...flags,
          ],
        }),
      );
  return server;
}

export const benchWhere = () => (process.env.DATABASE_URL ? 'DATABASE_URL server' : 'embedded Postgres');

/**
 * A fresh database on the bench server; `migrated: false` for one without Stepwise's tables;
 * `postgresFlags` for the embedded server, should this call start it.
 */
export async function benchDatabase(options: { migrated?: boolean; postgresFlags?: string[] } = {}) {
  const { url: serverUrl } = await benchServer(options.postgresFlags);
  const admin = adminUrlFor(serverUrl);
  const name = `stepwise_bench_${randomBytes(4).toString('hex')}`;
  await ensureDatabase(admin, name);
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  if (options.migrated ?? true) await migrate(url.toString());
  const prisma = createPrismaClient(url.toString(), { max: 20 });
  return {
    url: url.toString(),
    prisma,
    where: benchWhere(),
    async close() {
      await prisma.$disconnect();
      await dropDatabase(admin, name);
    },
  };
}

export async function stopBenchServer() {
  if (!server) return;
  await (await server).stop();
  server = undefined;
  if (!process.env.DATABASE_URL) await rm(dataDir, { recursive: true, force: true });
}
