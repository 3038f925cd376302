// A fresh, migrated database for one benchmark: on DATABASE_URL's server when
// set, else on an embedded Postgres of its own. `close()` drops it.
import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { connectDb, disconnectDb } from '../src/db/client.js';
import { migrate } from '../src/db/migrate.js';
import { adminUrlFor, dropDatabase, ensureDatabase, startEmbeddedPostgres } from '../src/db/postgres.js';

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}

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
