// A fresh, migrated database for one benchmark: on DATABASE_URL's server when
// set, else on an embedded Postgres of its own. `close()` drops it.
import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { connectDb, disconnectDb } from '../src/db/client.js';
import { migrate } from '../src/db/migrate.js';
import { adminUrlFor, dropDatabase, ensureDatabase, freePort, startEmbeddedPostgres } from '../src/db/postgres.js';

export async function benchDatabase() {
  const dataDir = `.data/bench-postgres/${process.pid}`;
  const server = process.env.DATABASE_URL
    ? { url: process.env.DATABASE_URL, stop: async () => {} }
    : await startEmbeddedPostgres({ dataDir, port: await freePort(), database: 'postgres' });
  const admin = adminUrlFor(server.url);
  const name = `stepwise_bench_${randomBytes(4).toString('hex')}`;
  await ensureDatabase(admin, name);
  const url = new URL(server.url);
  url.pathname = `/${name}`;
  await migrate(url.toString());
  const prisma = connectDb(url.toString(), { max: 20 });
  return {
    url: url.toString(),
    prisma,
    where: process.env.DATABASE_URL ? 'DATABASE_URL server' : 'embedded Postgres',
    async close() {
      await disconnectDb();
      await dropDatabase(admin, name);
      await server.stop();
      if (!process.env.DATABASE_URL) await rm(dataDir, { recursive: true, force: true });
    },
  };
}
