import { randomBytes } from 'node:crypto';
import type { Config } from '../config.js';
import { adminUrlFor, dropDatabase, ensureDatabase, startEmbeddedPostgres } from './postgres.js';

/** Runs fn against a new empty database on the configured server, then drops it. */
export async function withScratchDatabase<T>(config: Config, fn: (url: string) => Promise<T>): Promise<T> {
  const server = config.DATABASE_URL
    ? { url: config.DATABASE_URL, stop: async () => {} }
    : await startEmbeddedPostgres({ dataDir: `${config.STEPWISE_DATA_DIR}/postgres`, port: config.EMBEDDED_POSTGRES_PORT });
  const admin = adminUrlFor(server.url);
  const name = `stepwise_scratch_${randomBytes(4).toString('hex')}`;
  await ensureDatabase(admin, name);
  try {
    const url = new URL(server.url);
    url.pathname = `/${name}`;
    return await fn(url.toString());
  } finally {
    await dropDatabase(admin, name);
    await server.stop();
  }
}
