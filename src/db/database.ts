import type { Config } from '../config.js';
import { startEmbeddedPostgres, type PostgresHandle } from './postgres.js';

/** DATABASE_URL when set; otherwise the embedded Postgres under STEPWISE_DATA_DIR. */
export async function openDatabase(config: Config, log?: (line: string) => void): Promise<PostgresHandle & { embedded: boolean }> {
  if (config.DATABASE_URL) return { url: config.DATABASE_URL, stop: async () => {}, embedded: false };
  const handle = await startEmbeddedPostgres({
    dataDir: `${config.STEPWISE_DATA_DIR}/postgres`,
    port: config.EMBEDDED_POSTGRES_PORT,
    log,
  });
  return { ...handle, embedded: true };
}
