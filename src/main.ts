// Startup: config → database → migrations → runtime (job queue, workers, mail) → API keys → HTTP server.
// SIGTERM/SIGINT release everything in reverse order.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ensureApiKey, generateApiKey } from './auth/api-keys.js';
import { ConfigError, parseConfig, type Config } from './config.js';
import { openDatabase } from './db/database.js';
import { migrate } from './db/migrate.js';
import type { PrismaClient } from './generated/prisma/client.js';
import { createLogger } from './logger.js';
import { createRuntime } from './runtime.js';

let config: Config;
try {
  config = parseConfig();
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  console.error(error.message);
  process.exit(1);
}

const logger = createLogger(config.LOG_LEVEL);
// A library's background loop (pg-boss failing a job while the database restarts)
// may reject with nobody listening: log it and keep serving, the loops recover.
process.on('unhandledRejection', (reason) => logger.error({ err: reason }, 'unhandled rejection'));
const database = await openDatabase(config, (line) => logger.warn({ postgres: line }));
const applied = await migrate(database.url);
if (applied.length) logger.info({ migrations: applied }, 'applied migrations');
const serveHttp = config.STEPWISE_ROLE !== 'worker';
const runJobs = config.STEPWISE_ROLE !== 'api';
// The runtime holds the queue, mail, clock, tracking links, providers and draft writer.
// API processes also start pg-boss: they insert jobs, in the same transactions as their writes.
// Subscriptions follow changes made by any process through Postgres LISTEN/NOTIFY (the runtime listens unless a worker).
const runtime = createRuntime({ ...config, DATABASE_URL: database.url }, { onError: (error) => logger.warn({ err: error }, 'change listener') });
await runtime.start();

const graphiqlApiKey = await provisionKeys(runtime.db);
// Loaded only where it serves: a worker process does without the schema and the HTTP stack (memory).
const app = serveHttp ? (await import('./server/app.js')).buildApp({ runtime, logger, graphiqlApiKey, settings: config }) : undefined;
if (app) {
  const port = await app.start(config.PORT, config.HOST);
  logger.info({ host: config.HOST, port }, `Stepwise is listening: GraphiQL at http://localhost:${port}/graphql`);
}
if (runJobs) logger.info({ concurrency: config.WORKER_CONCURRENCY }, 'Stepwise workers are running');

/**
 * STEPWISE_API_KEY is made valid when set. On the embedded default without one, a
 * development key is created once, kept next to the data, and printed at each
 * start, and prefilled in GraphiQL for clients on this machine only (the embedded
 * default listens on 127.0.0.1; see server/loopback.ts for proxied requests).
 */
async function provisionKeys(client: PrismaClient): Promise<string | undefined> {
  if (config.STEPWISE_API_KEY) {
    await ensureApiKey(client, config.STEPWISE_API_KEY);
    return undefined;
  }
  if (!database.embedded) return undefined;
  const file = join(config.STEPWISE_DATA_DIR, 'dev-api-key');
  const key = existsSync(file) ? readFileSync(file, 'utf8').trim() : generateApiKey();
  await ensureApiKey(client, key, 'Development');
  writeFileSync(file, `${key}\n`, { mode: 0o600 });
  console.log(`Development API key: ${key} (send it as the header Authorization: Bearer <key>)`);
  return key;
}

let stopping = false;
async function shutdown(signal: string) {
  if (stopping) return;
  stopping = true;
  logger.info({ signal, timeoutMs: config.SHUTDOWN_TIMEOUT_MS }, 'shutting down');
  // Each stage is bounded by SHUTDOWN_TIMEOUT_MS; this is the last resort.
  setTimeout(() => {
    logger.error('shutdown took too long; exiting');
    process.exit(1);
  }, 2 * config.SHUTDOWN_TIMEOUT_MS + 5000).unref();
  // HTTP first (in-flight requests may still enqueue jobs; the opens and clicks it
  // buffered are written), then the job queue, which lets running step jobs finish
  // and returns the rest to the queue.
  await app?.stop({ timeoutMs: config.SHUTDOWN_TIMEOUT_MS });
  // The step loops drain their hand-offs, then the queue stops and the relay gets a QUIT.
  await runtime.stop({ graceful: true, timeout: Math.max(1000, config.SHUTDOWN_TIMEOUT_MS) });
  logger.info('stopped');
  await database.stop();
  process.exit(0);
}
process.on('SIGTERM', () => void shutdown('SIGTERM'));
process.on('SIGINT', () => void shutdown('SIGINT'));
