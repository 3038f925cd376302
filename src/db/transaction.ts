// The one way to open a transaction. Code inside it can register work to run as
// the transaction's last statements (just before COMMIT), e.g. numbering the
// change log under a lock that must be held as briefly as possible; and hot
// paths can send statements on the transaction's own connection around Prisma,
// or (lean) open the transaction themselves, Prisma joining it only when called.
import { createRequire } from 'node:module';
import pg from 'pg';
import type { Prisma, PrismaClient } from '../generated/prisma/client.js';
import { joiningTransaction, notifierOf, openingTransaction, poolOf, queryListenerOf, type Tx } from './client.js';
import { notificationKey } from './notifier.js';

type Hook = (tx: Tx) => Promise<void>;

const beforeCommit = new WeakMap<Tx, Hook[]>();
/** NOTIFYs a transaction sends once it has committed (notifyOnCommit), as channel and payload. */
const onCommit = new WeakMap<Tx, [string, string][]>();
interface Own {
  connection: pg.PoolClient;
  /** False once Prisma gave the connection back (commit, rollback, timeout): it may serve someone else then. */
  open: boolean;
  onQuery?: (sql: string) => void;
  /**
   * Lean: the BEGIN not sent yet. It goes with the transaction's first statement,
   * and deferred statements (txExecuteDeferred) with the next one or the COMMIT, in
   * one round trip each: a round trip costs both processes a socket write and a
   * wake-up (about a fifth of a trackEvent's CPU in Node went to those writes).
   */
  begin?: Statement[];
  deferred?: Statement[];
}
const connections = new WeakMap<Tx, Own>();

interface Statement {
  text: string;
  values: unknown[];
  /** A named (prepared) statement's name. */
  name?: string;
}

export interface TransactionOptions {
  /** Milliseconds the transaction may run (Prisma's default is 5 s). */
  timeout?: number;
  maxWait?: number;
  /**
   * For a hot path whose statements go around Prisma (txQuery, txExecute): BEGIN
   * and COMMIT are sent here on a pool connection (the BEGIN with the first
   * statement, the COMMIT with the deferred ones: txExecuteDeferred), and Prisma's
   * interactive transaction, whose machinery costs about 0.3 ms of CPU per
   * transaction, joins it only if a Prisma call is made (`tx` stays a full Prisma client).
   */
  lean?: boolean;
  /**
   * With `lean`, for a transaction of a few rows: its named statements (SendOptions
   * `prepared`) run their cached generic plan instead of being planned again at
   * each call wherever Postgres guesses a custom plan cheaper (the events'
   * statement of trackEvent was: about 0.4 ms of Postgres CPU a call). Every
   * statement of the transaction is planned without its values then: only for
   * statements over a few rows (see SendOptions).
   */
  genericPlans?: boolean;
}

/** Opens a transaction on `on.db` (a runtime, an engine context, or anything holding the client). */
export async function transaction<T>(on: { db: PrismaClient }, fn: (tx: Tx) => Promise<T>, options: TransactionOptions = {}): Promise<T> {
  const pool = options.lean ? poolOf(on.db) : undefined;
  if (pool) return leanTransaction(on.db, pool, fn, options);
  let own: Own | undefined;
  const claim = (connection: pg.PoolClient) => {
    if (own) return;
    const mine: Own = { connection, open: true, onQuery: queryListenerOf(on.db) };
    // The pool sets `release` afresh at each checkout: this one marks the end of ours.
    const release = connection.release;
    connection.release = (...args) => {
      mine.open = false;
      return release.apply(connection, args);
    };
    own = mine;
  };
  const timeout = options.timeout ?? 30_000;
  // Prisma rolls back at the timeout but gives the connection back only after: a
  // statement sent around it in between would run outside any transaction.
  const timer = setTimeout(() => {
    if (own) own.open = false;
  }, timeout);
  let notifications: [string, string][] = [];
  try {
    const result = await openingTransaction.run(claim, () =>
      on.db.$transaction(
        async (tx) => {
          const hooks: Hook[] = [];
          beforeCommit.set(tx, hooks);
          onCommit.set(tx, (notifications = []));
          if (own) connections.set(tx, own);
          const result = await fn(tx);
          for (const hook of hooks) await hook(tx);
          return result;
        },
        { timeout, maxWait: options.maxWait ?? 10_000 },
      ),
    );
    sendNotifications(on.db, notifications);
    return result;
  } finally {
    clearTimeout(timer);
  }
}

const closed = () => new Error('Transaction already closed: it ended (committed, rolled back or timed out) before this statement');

async function leanTransaction<T>(db: PrismaClient, pool: pg.Pool, fn: (tx: Tx) => Promise<T>, options: TransactionOptions): Promise<T> {
  const connection = await connectWithin(pool, options.maxWait ?? 10_000);
  // Held between statements, a checked-out connection has no listener of the pool's: an
  // error Postgres sends then (a restart, a forced drop, a terminated session) would
  // crash the process. It fails the transaction's next statement instead.
  let broken: Error | undefined;
  const onError = (error: Error) => (broken ??= error);
  connection.on('error', onError);
  const own: Own = { connection, open: true, onQuery: queryListenerOf(db), deferred: [] };
  const timeout = options.timeout ?? 30_000;
  const deadline = performance.now() + timeout;
  // Prisma's interactive transaction on this connection, opened at the first Prisma call.
  let joined: { tx: Promise<Tx>; end: (error?: unknown) => Promise<void> } | undefined;
  const join = () => {
    if (!own.open) return Promise.reject(closed());
    if (!joined) {
      let end!: (error?: unknown) => void;
      const ended = new Promise<void>((resolve, reject) => (end = (error) => (error === undefined ? resolve() : reject(error))));
      let started!: (tx: Tx) => void;
      const tx = new Promise<Tx>((resolve) => (started = resolve));
      // Prisma's statements go on this connection after the BEGIN and the deferred ones.
      const sent = flushPending(own);
      const done = joiningTransaction.run(connection, () => sent.then(() =>
        db.$transaction(
          async (itx) => {
            started(itx);
            await ended;
          },
          { timeout: Math.max(1, deadline - performance.now()), maxWait: options.maxWait ?? 10_000 },
        ),
      ));
      joined = {
        tx: Promise.race([tx, done.then(() => Promise.reject(closed()))]),
        end: async (error) => {
          end(error);
          await done;
        },
      };
    }
    return joined.tx;
  };
  const tx = joinOnUse(async () => {
    const joinedTx = await join();
    // Statements deferred since Prisma joined go first.
    await flushPending(own);
    return joinedTx;
  });
  const hooks: Hook[] = [];
  beforeCommit.set(tx, hooks);
  const notifications: [string, string][] = [];
  onCommit.set(tx, notifications);
  connections.set(tx, own);
  // As Prisma's: at the timeout the transaction is rolled back, and its later statements refused.
  let rolledBack: Promise<unknown> | undefined;
  const rollback = () => (rolledBack ??= own.begin ? Promise.resolve() : connection.query('ROLLBACK'));
  const timer = setTimeout(() => {
    own.open = false;
    rollback().catch(() => {});
  }, timeout);
  try {
    // Sent with the first statement (sendText), or before Prisma joins.
    own.begin = options.genericPlans ? [BEGIN, GENERIC_PLANS] : [BEGIN];
    own.onQuery?.(options.genericPlans ? 'BEGIN; SET LOCAL plan_cache_mode = force_generic_plan' : 'BEGIN');
    const result = await fn(tx);
    for (const hook of hooks) await hook(tx);
    await joined?.end();
    if (!own.open) throw closed();
    own.onQuery?.('COMMIT');
    // The deferred statements and the COMMIT in one round trip (with the BEGIN if it is still unsent); nothing when nothing was.
    const nothingSent = own.begin !== undefined && !own.deferred?.length;
    const pending = takePending(own);
    // A read that failed after the COMMIT may leave its own transaction open: the connection goes, not back to the pool.
    const delivered = nothingSent ? undefined : await commitWithReads(db, own, pending, notifications, (error) => (broken ??= error));
    sendNotifications(db, notifications, delivered);
    return result;
  } catch (error) {
    await joined?.end(error).catch(() => {});
    // Also after a failed COMMIT batch: its deferred statement may have failed and left the transaction open (aborted).
    if (!own.begin) await rollback().catch((e: unknown) => (broken = e instanceof Error ? e : new Error(String(e))));
    throw error;
  } finally {
    clearTimeout(timer);
    own.open = false;
    // A connection that could not roll back (or broke) is not given to anyone else.
    connection.removeListener('error', onError);
    connection.release(broken);
  }
}

/**
 * A read sent right after a transaction's COMMIT, on its connection and in the
 * same round trip, for one of the notifications it sends (readAfterCommit): its
 * answer comes with the COMMIT's, so what it reads reaches this process's
 * listeners without another round trip (nor another turn of a busy event loop).
 */
export interface CommitRead {
  /** Statements run after the COMMIT, in order (they may open and commit a transaction of their own); the last one's rows are the read's. */
  statements: BatchStatement[];
  /**
   * Its rows once the COMMIT and it have run, or its error (the transaction
   * committed all the same). Returns whether the notification has been delivered
   * in this process by that: it is then not handed to the local listener again.
   */
  done(rows: unknown[] | undefined, error?: unknown): boolean;
}

/** A statement as dbBatch and commit reads take it: `prepared` as in SendOptions. */
export interface BatchStatement {
  text: string;
  values: unknown[];
  prepared?: boolean;
}

const commitReaders = new WeakMap<PrismaClient, Map<string, (payload: string) => CommitRead | undefined>>();

/**
 * Asks `reader`, at each lean transaction of `db` that notifies `channel`, for a
 * read to send after its COMMIT (or none). One reader per channel and client.
 */
export function readAfterCommit(db: PrismaClient, channel: string, reader: (payload: string) => CommitRead | undefined): void {
  let readers = commitReaders.get(db);
  if (!readers) commitReaders.set(db, (readers = new Map()));
  readers.set(channel, reader);
}

/**
 * Sends the pending statements and the COMMIT, with the reads its notifications
 * ask for after it, in one round trip; returns the notifications the reads delivered.
 */
async function commitWithReads(
  db: PrismaClient,
  own: Own,
  pending: Statement[],
  notifications: [string, string][],
  readFailed: (error: Error) => void,
): Promise<Set<string> | undefined> {
  const readers = commitReaders.get(db);
  const reads: { key: string; read: CommitRead; last: number }[] = [];
  const batch = [...pending, COMMIT];
  if (readers) {
    for (const [channel, payload] of notifications) {
      const read = readers.get(channel)?.(payload);
      if (!read) continue;
      for (const s of read.statements) {
        own.onQuery?.(s.text);
        batch.push(toStatement(s.text, s.values, s));
      }
      reads.push({ key: notificationKey(channel, payload), read, last: batch.length - 1 });
    }
  }
  let results: pg.QueryResult[] | undefined;
  let failed: unknown;
  try {
    results = await sendStatements(own.connection, batch);
  } catch (error) {
    // Failed before the COMMIT had completed: the transaction's error. After it, only a read's.
    if (!reads.length || completedBefore(error) <= pending.length) throw error;
    failed = error;
    readFailed(error instanceof Error ? error : new Error(String(error)));
  }
  if (!reads.length) return undefined;
  const delivered = new Set<string>();
  for (const { key, read, last } of reads) if (read.done(results?.[last]?.rows, failed)) delivered.add(key);
  return delivered;
}

/** A pool connection, or an error after `maxWait` ms as Prisma gives (the connection, should it come later, goes back). */
function connectWithin(pool: pg.Pool, maxWait: number): Promise<pg.PoolClient> {
  return new Promise((resolve, reject) => {
    let late = false;
    const timer = setTimeout(() => {
      late = true;
      reject(new Error(`Unable to start a transaction in the given time (${maxWait} ms): no connection was free`));
    }, maxWait);
    pool.connect().then(
      (connection) => {
        clearTimeout(timer);
        if (late) connection.release();
        else resolve(connection);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}

/**
 * A Prisma client for a lean transaction: each call (a model's method, $queryRaw…)
 * is made on the joined interactive transaction, opened at the first one.
 */
function joinOnUse(join: () => Promise<Tx>): Tx {
  const member = (path: string[]): unknown =>
    new Proxy(function () {}, {
      get: (_target, key) => (typeof key === 'string' && key !== 'then' ? member([...path, key]) : undefined),
      apply: async (_target, _this, args: unknown[]) => {
        let owner: any = await join();
        for (const key of path.slice(0, -1)) owner = owner[key];
        return owner[path.at(-1)!](...args);
      },
    });
  return new Proxy({}, { get: (_target, key) => (typeof key === 'string' && key !== 'then' ? member([key]) : undefined) }) as Tx;
}

/**
 * NOTIFYs `channel` with `payload` once the transaction has committed (never if it
 * does not), from the client's notifier rather than inside the transaction: see
 * src/db/notifier.ts for why. Listeners must still poll: a process that dies
 * between the commit and the send loses it.
 */
export function notifyOnCommit(tx: Tx, channel: string, payload: string): void {
  const notifications = onCommit.get(tx);
  if (!notifications) throw new Error('not inside transaction(): open the transaction with src/db/transaction.ts');
  notifications.push([channel, payload]);
}

/** NOTIFYs now, for a statement that committed on its own (outside transaction()). */
export function notifyNow(db: PrismaClient, channel: string, payload: string): void {
  sendNotifications(db, [[channel, payload]]);
}

/** `delivered`: the notifications already delivered in this process (by a commit read), to be sent to the others only. */
function sendNotifications(db: PrismaClient, notifications: [string, string][], delivered?: Set<string>): void {
  if (!notifications.length) return;
  const notifier = notifierOf(db);
  if (notifier) for (const [channel, payload] of notifications) notifier.notify(channel, payload, !delivered?.has(notificationKey(channel, payload)));
  // A client made elsewhere than createPrismaClient (no notifier): one statement each.
  else for (const [channel, payload] of notifications) void db.$executeRaw`SELECT pg_notify(${channel}, ${payload})`.catch(() => {});
}

/** Registers `key`'s hook once per transaction; returns false when it already was. */
export function runBeforeCommit(tx: Tx, hook: Hook): boolean {
  const hooks = beforeCommit.get(tx);
  if (!hooks) throw new Error('not inside transaction(): open the transaction with src/db/transaction.ts');
  if (hooks.includes(hook)) return false;
  hooks.push(hook);
  return true;
}

// Values bound as Prisma binds them: instants in UTC (a `timestamp` column ignores
// the zone, a `timestamptz` one reads it), bigints as text, objects as JSON (pg's own).
function bind(value: unknown): unknown {
  if (value === undefined || value === null) return null;
  if (value instanceof Date) return value.toISOString();
  if (typeof value === 'bigint') return value.toString();
  return Array.isArray(value) ? bindArray(value) : value;
}

// SQL arrays are of one type: arrays of text and numbers (most, and long) go as they are.
// (pg's own array writer is as fast as a hand-written one here: measured, 0.5 µs an element either way.)
function bindArray(values: unknown[]): unknown[] {
  const sample = values.find((v) => v !== null && v !== undefined);
  return sample instanceof Date || typeof sample === 'bigint' || Array.isArray(sample) ? values.map(bind) : values;
}

const utcTimestamp = (text: string) => new Date(`${text.replace(' ', 'T')}Z`);
const TIMESTAMP = 1114;
const INT8 = 20;
// Read as Prisma reads them: `timestamp` is UTC (not the process's zone), int8 a bigint.
const types = {
  getTypeParser: (oid: number, format?: string) =>
    oid === TIMESTAMP ? utcTimestamp : oid === INT8 ? (text: string) => BigInt(text) : pg.types.getTypeParser(oid, format as 'text'),
};

/**
 * Runs `query` in the transaction, on its own connection but around Prisma: a
 * statement through Prisma's interactive transaction costs about 1 ms of CPU in
 * its query machinery (parameters serialised and parsed twice, call-site capture),
 * which the hot ingestion path cannot afford. Rows come back as $queryRaw gives
 * them for the types the hot statements read (text, numbers, booleans, json,
 * timestamps, int8); cast anything else to text. Falls back to $queryRaw in a
 * transaction not opened by transaction().
 */
export async function txQuery<T>(tx: Tx, query: Prisma.Sql, options: SendOptions = {}): Promise<T[]> {
  const own = connections.get(tx);
  if (!own) return tx.$queryRaw<T[]>(query);
  return (await send(own, query, options)).rows as T[];
}

/** txQuery for a statement whose rows are not read: the number of rows it affected. */
export async function txExecute(tx: Tx, query: Prisma.Sql, options: SendOptions = {}): Promise<number> {
  const own = connections.get(tx);
  if (!own) return tx.$executeRaw(query);
  return (await send(own, query, options)).rowCount ?? 0;
}

/**
 * txExecute for a statement whose row count is not needed and after which the
 * caller sends nothing that depends on its answer: in a lean transaction it is
 * sent with the transaction's next statement (its own, Prisma's) or its COMMIT,
 * in one round trip; elsewhere at once. Its error fails the transaction there.
 */
export async function txExecuteDeferred(tx: Tx, query: Prisma.Sql, options: SendOptions = {}): Promise<void> {
  const own = connections.get(tx);
  if (!own) {
    await tx.$executeRaw(query);
    return;
  }
  if (!own.deferred) {
    await send(own, query, options);
    return;
  }
  if (!own.open) throw closed();
  own.onQuery?.(query.text);
  own.deferred.push(toStatement(query.text, query.values, options));
}

/**
 * `genericPlans` from here on, for a lean transaction that learns only from its
 * first statement that it holds a few rows (a claim, from its fetch): sent with
 * its next statement. Elsewhere nothing.
 */
export function useGenericPlans(tx: Tx): void {
  const own = connections.get(tx);
  if (!own?.deferred || !own.open) return;
  own.onQuery?.(GENERIC_PLANS.text);
  own.deferred.push(GENERIC_PLANS);
}

/**
 * Statements of their own, sent on one connection of the client's pool in one
 * round trip (as sendStatements sends them): one implicit transaction unless
 * they open their own. Their results, one per statement; on an error the
 * connection is closed rather than given back.
 */
export async function dbBatch(db: PrismaClient, statements: BatchStatement[]): Promise<pg.QueryResult[]> {
  const pool = poolOf(db);
  if (!pool) throw new Error('dbBatch needs a client made by createPrismaClient');
  const listener = queryListenerOf(db);
  for (const s of statements) listener?.(s.text);
  const connection = await pool.connect();
  let broken: Error | undefined;
  try {
    return await sendStatements(connection, statements.map((s) => toStatement(s.text, s.values, s)));
  } catch (error) {
    // Not back to the pool: statements that open a transaction of their own may have left it open (or the socket broke).
    broken = error instanceof Error ? error : new Error(String(error));
    throw error;
  } finally {
    connection.release(broken);
  }
}

/**
 * A statement of its own (autocommit), sent on the client's pool around Prisma,
 * as txExecute sends one in a transaction: for a small statement sent often (the
 * outbox's marks, captured headers), Prisma's work per query costs more than the
 * statement. Returns the rows it affected.
 */
export async function dbExecute(db: PrismaClient, query: Prisma.Sql, options: SendOptions = {}): Promise<number> {
  const sent = onPool(db, query.text, query.values, options);
  return sent ? ((await sent).rowCount ?? 0) : db.$executeRaw(query);
}

/** dbExecute for a statement whose rows are read (a small read sent often: the counters behind stats and page counts). */
export function dbQuery<T>(db: PrismaClient, query: Prisma.Sql, options: SendOptions = {}): Promise<T[]> {
  return dbQueryText<T>(db, query.text, query.values, options);
}

/** dbExecute for a statement built as text with its own `$n` placeholders, returning its rows. */
export async function dbQueryText<T>(db: PrismaClient, text: string, values: unknown[], options: SendOptions = {}): Promise<T[]> {
  const sent = onPool(db, text, values, options);
  return sent ? ((await sent).rows as T[]) : db.$queryRawUnsafe<T[]>(text, ...values);
}

/** The statement on the client's pool, or undefined for a client without one (made elsewhere than createPrismaClient). */
function onPool(db: PrismaClient, text: string, values: unknown[], options: SendOptions): Promise<pg.QueryResult> | undefined {
  const pool = poolOf(db);
  if (!pool) return undefined;
  queryListenerOf(db)?.(text);
  return pool.query(asQuery(toStatement(text, values, options)));
}

/**
 * txQuery for a statement built as text with its own `$n` placeholders (a
 * compiled segment predicate): what $queryRawUnsafe would run, sent as txQuery does.
 */
export async function txQueryText<T>(tx: Tx, text: string, values: unknown[], options: SendOptions = {}): Promise<T[]> {
  const own = connections.get(tx);
  if (!own) return tx.$queryRawUnsafe<T[]>(text, ...values);
  return (await sendText(own, text, values, options)).rows as T[];
}

export interface SendOptions {
  /**
   * A named (prepared) statement: each connection parses and plans it once, not
   * at every call (the long CTEs of ingestion cost Postgres, which shares the
   * cores, more to plan than to run). Only for a text of a few fixed shapes:
   * values bound, never spliced in (no Prisma.join of data); and only for a few
   * rows: after five calls Postgres may keep a generic plan, which guesses the
   * size of an unnested array and can join a large batch badly (a batch's own
   * plan costs little per row anyway).
   */
  prepared?: boolean;
}

/** Up to how many rows a statement over arrays is worth preparing (see SendOptions). */
export const PREPARED_ROWS = 10;

const statementNames = new Map<string, string>();
// A bound on the named statements each connection may keep, should a caller's text vary after all.
const MAX_NAMED = 200;

function nameOf(text: string): string | undefined {
  let name = statementNames.get(text);
  if (!name && statementNames.size < MAX_NAMED) {
    name = `stepwise-tx-${statementNames.size + 1}`;
    statementNames.set(text, name);
  }
  return name;
}

function send(own: Own, query: Prisma.Sql, options: SendOptions): Promise<pg.QueryResult> {
  return sendText(own, query.text, query.values, options);
}

async function sendText(own: Own, text: string, values: unknown[], options: SendOptions): Promise<pg.QueryResult> {
  if (!own.open) throw closed();
  own.onQuery?.(text);
  const ahead = takePending(own);
  const next = toStatement(text, values, options);
  if (!ahead.length) return own.connection.query(asQuery(next));
  const results = await sendStatements(own.connection, [...ahead, next]);
  return results.at(-1)!;
}

const BEGIN: Statement = { text: 'BEGIN', values: [] };
const GENERIC_PLANS: Statement = { text: 'SET LOCAL plan_cache_mode = force_generic_plan', values: [] };
const COMMIT: Statement = { text: 'COMMIT', values: [] };

/** The BEGIN (when not sent yet) and the deferred statements, taken to be sent now. */
function takePending(own: Own): Statement[] {
  const pending = [...(own.begin ?? []), ...(own.deferred ?? [])];
  own.begin = undefined;
  if (own.deferred) own.deferred = [];
  return pending;
}

/** Sends what is pending (before Prisma uses the connection). */
async function flushPending(own: Own): Promise<void> {
  const pending = takePending(own);
  if (!pending.length) return;
  if (!own.open) throw closed();
  await sendStatements(own.connection, pending);
}

/** A statement as sent: values bound as Prisma binds them, named when prepared. */
const toStatement = (text: string, values: unknown[], options: SendOptions): Statement => ({
  text,
  values: values.map(bind),
  name: options.prepared ? nameOf(text) : undefined,
});

type PgConnection = { parsedStatements: Record<string, string> };
// How pg writes a bound value (arrays as array literals, dates, buffers): its own function, which it does not type.
const { prepareValue } = createRequire(import.meta.url)('pg/lib/utils.js') as { prepareValue: (value: unknown) => unknown };
const PgQuery = (pg as unknown as { Query: new (config: object) => object }).Query;

/**
 * Several statements in one round trip: each one's Parse (unless prepared on
 * this connection), Bind, Describe and Execute, then one Sync, written at once.
 * Postgres stops at the first error (the rest are skipped) and it is the
 * batch's error; one result per statement otherwise. A named statement this
 * connection has not prepared yet is sent as pg sends it (pg keeps the books of
 * what each connection prepared), so such a batch goes one statement at a time.
 */
async function sendStatements(connection: pg.PoolClient, statements: Statement[]): Promise<pg.QueryResult[]> {
  const prepared = (connection as unknown as { connection: PgConnection }).connection.parsedStatements;
  if (statements.some((s) => s.name !== undefined && prepared[s.name] !== s.text)) {
    const results: pg.QueryResult[] = [];
    try {
      for (const s of statements) results.push(await connection.query(asQuery(s)));
    } catch (error) {
      throw failedAfter(error, results.length);
    }
    return results;
  }
  // Values serialised before anything is written: a value pg cannot send fails the batch unsent.
  const values = statements.map((s) => s.values.map((v) => prepareValue(v)));
  return new Promise((resolve, reject) => {
    let completed = 0;
    const query = new PgQuery({
      text: statements.at(-1)!.text,
      types,
      callback: (error: Error | null, result?: pg.QueryResult | pg.QueryResult[]) => {
        if (error) reject(failedAfter(error, completed));
        else resolve(Array.isArray(result) ? result : [result!]);
      },
    }) as { prepare: (connection: PgWire) => void; requiresPreparation: () => boolean; handleCommandComplete: (...args: unknown[]) => void };
    query.requiresPreparation = () => true;
    const handleCommandComplete = query.handleCommandComplete.bind(query);
    query.handleCommandComplete = (...args) => {
      completed += 1;
      handleCommandComplete(...args);
    };
    // pg's Query, whose results are one per statement (as for several statements in a simple query).
    query.prepare = (wire: PgWire) => {
      statements.forEach((s, i) => {
        if (s.name === undefined) wire.parse({ text: s.text });
        wire.bind({ statement: s.name, values: values[i]! });
        wire.describe({ type: 'P', name: '' });
        wire.execute({ portal: '' });
      });
      wire.sync();
    };
    connection.query(query as unknown as pg.QueryConfig);
  });
}

/** How many statements of a failed batch had completed before its error (sendStatements). */
const completedCounts = new WeakMap<object, number>();

function failedAfter(error: unknown, completed: number): unknown {
  if (typeof error === 'object' && error !== null) completedCounts.set(error, completed);
  return error;
}

function completedBefore(error: unknown): number {
  return (typeof error === 'object' && error !== null && completedCounts.get(error)) || 0;
}

interface PgWire {
  parse(config: { text: string }): void;
  bind(config: { statement?: string; values: unknown[] }): void;
  describe(config: { type: 'P'; name: string }): void;
  execute(config: { portal: string }): void;
  sync(): void;
}

/** A statement as one pg query, its timestamps read in UTC. */
function asQuery({ name, text, values }: Statement): pg.QueryConfig {
  return { name, text, values, types } as pg.QueryConfig;
}
