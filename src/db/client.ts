import { AsyncLocalStorage } from 'node:async_hooks';
import { PrismaPg } from '@prisma/adapter-pg';
import pg from 'pg';
import { PrismaClient } from '../generated/prisma/client.js';
import { createNotifier, type Notifier } from './notifier.js';

export type Db = PrismaClient;
/** The interactive-transaction client, for code that must run inside one. */
export type Tx = Parameters<Parameters<PrismaClient['$transaction']>[0]>[0];

export interface ClientOptions {
  max?: number;
  /** Called with every SQL statement (tests count them to catch N+1). */
  onQuery?: (sql: string) => void;
}

/**
 * An AsyncLocalStorage enabled only while one of its run() calls is in progress.
 * On Node 20 an enabled instance keeps promise hooks on for every promise of the
 * process (an await costs about twice as much), and these two are needed only
 * while Prisma opens a transaction: disabled again when none is opening, the hot
 * paths' lean transactions, which do not use them, run without the hooks.
 */
function scopedStorage<T>() {
  const storage = new AsyncLocalStorage<T>();
  let running = 0;
  return {
    getStore: (): T | undefined => storage.getStore(),
    async run<R>(store: T, fn: () => Promise<R>): Promise<R> {
      running++;
      try {
        return await storage.run(store, fn);
      } finally {
        // No run() left whose context could still be read (disable() ends every context of the instance).
        if (--running === 0) storage.disable();
      }
    },
  };
}

const pools = new WeakMap<PrismaClient, pg.Pool>();
const notifiers = new WeakMap<PrismaClient, Notifier>();
const queryListeners = new WeakMap<PrismaClient, (sql: string) => void>();

/**
 * Set by src/db/transaction.ts while Prisma opens a transaction: told the pool
 * connection Prisma takes for it (the first one taken in that async context).
 */
export const openingTransaction = scopedStorage<(connection: pg.PoolClient) => void>();

/**
 * Set by src/db/transaction.ts while Prisma opens an interactive transaction for a
 * lean transaction: the connection on which that transaction already began. Prisma
 * joins it (no connection taken, no BEGIN) and leaves its end to the owner
 * (a "phantom" commit or rollback: no statement sent).
 */
export const joiningTransaction = scopedStorage<pg.PoolClient>();

type Adapter = Awaited<ReturnType<PrismaPg['connect']>>;

/** The adapter, with transactions that join a lean transaction's connection when asked to (joiningTransaction). */
function joinable(factory: PrismaPg): PrismaPg {
  const connect = factory.connect.bind(factory);
  factory.connect = async () => {
    const adapter = await connect();
    const start = adapter.startTransaction.bind(adapter);
    adapter.startTransaction = async (isolationLevel) => {
      const connection = joiningTransaction.getStore();
      if (!connection) return start(isolationLevel);
      // The adapter's own query code (parameters, result types, error mapping), on that connection.
      const joined = Object.create(adapter) as Omit<Adapter, 'client'> & { client: pg.PoolClient };
      joined.client = connection;
      const savepoint = (sql: string) => joined.executeRaw({ sql, args: [], argTypes: [] }).then(() => undefined);
      return Object.assign(joined, {
        options: { usePhantomQuery: true },
        commit: async () => {},
        rollback: async () => {},
        createSavepoint: (name: string) => savepoint(`SAVEPOINT ${name}`),
        rollbackToSavepoint: (name: string) => savepoint(`ROLLBACK TO SAVEPOINT ${name}`),
        releaseSavepoint: (name: string) => savepoint(`RELEASE SAVEPOINT ${name}`),
      }) as unknown as Awaited<ReturnType<Adapter['startTransaction']>>;
    };
    return adapter;
  };
  return factory;
}

/** The `onQuery` listener of a client made by createPrismaClient, for statements sent around Prisma. */
export function queryListenerOf(client: PrismaClient): ((sql: string) => void) | undefined {
  return queryListeners.get(client);
}

/**
 * The connection pool under a client made by createPrismaClient: hot statements
 * skip Prisma's work per query there (dbExecute, dbQueryText and lean transactions
 * in src/db/transaction.ts). Ended with the client.
 */
export function poolOf(client: PrismaClient): pg.Pool | undefined {
  return pools.get(client);
}

/** The notifier of a client made by createPrismaClient (src/db/notifier.ts): ended with the client. */
export function notifierOf(client: PrismaClient): Notifier | undefined {
  return notifiers.get(client);
}

/**
 * Keeps count of a pool's open connections (`add` each as it connects): pg-pool's
 * end() resolves once it has asked each connection to close, before Postgres has
 * seen them go. A database dropped (or a server stopped) in that gap
 * ends them itself, with an error on a connection the process is closing; whoever
 * ends a pool waits for `closed()` so nothing of it is left open after.
 */
export function connectionTracker() {
  const open = new Set<pg.ClientBase>();
  let waiting: (() => void)[] = [];
  return {
    add(client: pg.ClientBase) {
      open.add(client);
      client.once('end', () => {
        open.delete(client);
        if (!open.size) for (const resolve of waiting.splice(0)) resolve();
      });
    },
    closed(): Promise<void> {
      return open.size ? new Promise((resolve) => waiting.push(resolve)) : Promise.resolve();
    },
  };
}

export function createPrismaClient(connectionString: string, options: ClientOptions = {}): PrismaClient {
  const connections = connectionTracker();
  // A session left idle inside a transaction that wrote the change log would hold
  // back the change feed (src/realtime/change-feed.ts) for everyone; transactions end within
  // 30 s (src/db/transaction.ts), so the server ends one idle for a minute.
  const pool = new pg.Pool({ connectionString, max: options.max ?? 10, idle_in_transaction_session_timeout: 60_000 });
  // $disconnect() ends the pool (the adapter's dispose): it resolves once every connection is closed.
  pool.on('connect', connections.add);
  const notifier = createNotifier(connectionString);
  const end = pool.end.bind(pool) as () => Promise<void>;
  pool.end = (async () => {
    await notifier.end();
    await end();
    await connections.closed();
  }) as typeof pool.end;
  // The driver adapter takes a transaction's connection with the promise form of connect().
  const connect = pool.connect.bind(pool) as (...args: unknown[]) => Promise<pg.PoolClient>;
  pool.connect = ((...args: unknown[]) => {
    const claim = args.length ? undefined : openingTransaction.getStore();
    if (!claim) return connect(...args);
    return connect().then((connection) => {
      claim(connection);
      return connection;
    });
  }) as typeof pool.connect;
  const client = new PrismaClient({
    adapter: joinable(new PrismaPg(pool, { disposeExternalPool: true })),
    log: options.onQuery ? [{ emit: 'event', level: 'query' }] : [],
  });
  pools.set(client, pool);
  notifiers.set(client, notifier);
  if (options.onQuery) {
    const onQuery = options.onQuery;
    queryListeners.set(client, onQuery);
    (client as PrismaClient<'query'>).$on('query', (e) => onQuery(e.query));
  }
  return client;
}
