import { PrismaPg } from '@prisma/adapter-pg';
import pg from 'pg';
import { PrismaClient } from '../generated/prisma/client.js';

export type Db = PrismaClient;
/** The interactive-transaction client, for code that must run inside one. */
export type Tx = Parameters<Parameters<PrismaClient['$transaction']>[0]>[0];

export interface ClientOptions {
  max?: number;
  /** Called with every SQL statement (tests count them to catch N+1). */
  onQuery?: (sql: string) => void;
}

const pools = new WeakMap<PrismaClient, pg.Pool>();

/**
 * The connection pool under a client made by createPrismaClient: a hot path that
 * sends one statement with many values (opens and clicks) skips Prisma's work per
 * query (src/services/tracking-recorder.ts). Ended with the client.
 */
export function poolOf(client: PrismaClient): pg.Pool | undefined {
  return pools.get(client);
}

export function createPrismaClient(connectionString: string, options: ClientOptions = {}): PrismaClient {
  // A session left idle inside a transaction would hold back the change feed's
  // horizon (src/realtime/change-feed.ts) for everyone; transactions end within
  // 30 s (src/db/transaction.ts), so the server ends one idle for a minute.
  const pool = new pg.Pool({ connectionString, max: options.max ?? 10, idle_in_transaction_session_timeout: 60_000 });
  const client = new PrismaClient({
    adapter: new PrismaPg(pool, { disposeExternalPool: true }),
    log: options.onQuery ? [{ emit: 'event', level: 'query' }] : [],
  });
  pools.set(client, pool);
  if (options.onQuery) {
    const onQuery = options.onQuery;
    (client as PrismaClient<'query'>).$on('query', (e) => onQuery(e.query));
  }
  return client;
}
