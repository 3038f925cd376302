// The subscription feed of enrollment status changes: replays the change log
// after a cursor, then follows it live, in commit order, with no gap and no
// duplicate at the seam, because replay and live read the same log in the same
// order.
//
// Order and horizon. Writers take no lock that anyone waits on: each row's key
// `xid` is taken as its transaction writes the log (stepwise_change_key(), in
// src/engine/run-status.ts's INSERT), from a snapshot read after the writer took
// a shared "log writer" advisory lock it holds to its end: at least the writer's
// own id, and at least the first id not completed then. Every read stops below
// the horizon: the oldest transaction in flight in its own snapshot, leaving out
// those that one read of pg_locks shows alive (their id's lock) and not holding
// the writer lock. Left out safely: such a writer takes its key later, from a
// snapshot newer than the reader's, so above everything the reader may read. A
// writer that took its key before the reader's snapshot holds the lock, so it
// is counted; one that ended since the snapshot (its rows invisible to it) is
// not shown alive, so it is counted too: the horizon only errs low. So only a
// transaction between its log write and its commit (trackEvent's last round
// trip) holds readers back, not one that wrote elsewhere long before (an open
// claim, another database, pg-boss). Positions are (xid, id), packed into one
// number (xid * 10^19 + id) that is also the opaque cursor; rows logged before
// xid existed keep their old per-workspace seq as cursor.
//
// Live reads are shared: per workspace, this process keeps the recent tail of
// the log and refreshes it with one query per wake-up, however many subscribers
// are waiting, so 1,000 subscriptions cost one read per change, not 1,000. The
// tail then wakes only the feeds a new change matches; the others stay asleep and
// are moved past it, so a change costs its own subscribers' work, not every
// feed's. A transaction of this process that wrote the log reads the tail after its
// COMMIT, in the same round trip (commitRead), and a read that finds changes held
// behind a writer in flight waits for that writer in Postgres and reads again (chase):
// a change is not left waiting for a NOTIFY and a turn of a busy event loop.
// A notification that names only subscribers none of the process's waiting feeds
// follow (domain/change-notification.ts) is noted, not read: their changes are read
// with the next read, or at once should a feed for one of them start waiting.
// A subscriber further behind than the tail reads the log itself (replay). The
// buffer per subscriber is one batch: a slow client slows only its own reads
// (and the WebSocket server drops a client whose socket backs up).
import { parseChangePayload } from '../domain/change-notification.js';
import { UserError } from '../domain/errors.js';
import type { Db } from '../db/client.js';
import { dbBatch, dbQueryText, readAfterCommit, type BatchStatement, type CommitRead } from '../db/transaction.js';
import { CHANGES_CHANNEL } from '../engine/run-status.js';
import type { EnrollmentChange, EnrollmentStatus } from '../generated/prisma/client.js';
import { Prisma } from '../generated/prisma/client.js';
import { announceChange, bumpChangeVersion, changeVersion, noteHeld as noteHeldForEchoes, waitForChange } from './change-notifier.js';

const BATCH = 200;
/** Changes kept in a workspace's shared tail (tests shrink it to exercise replay). */
let TAIL_SIZE = 5_000;

export function configureChangeFeed(options: { tailSize: number }) {
  TAIL_SIZE = options.tailSize;
}
/** Safety net when a NOTIFY is missed. */
const POLL_MS = 2_000;
/** Re-reads while committed changes wait behind an older open transaction: 20 ms, doubling, at most 1 s. */
const HELD_POLL_MS = [20, 1_000] as const;

const SHIFT = 10n ** 19n; // above any bigint id
const MAX_ID = 2n ** 63n - 1n;
const min = (a: bigint, b: bigint) => (a < b ? a : b);

export interface FeedFilter {
  workspaceId: string;
  sequenceId?: string | null;
  subscriberId?: string | null;
  statuses?: EnrollmentStatus[] | null;
}

/**
 * One row of the change log as the feed reads it, every column: a selection of the
 * change's own fields is answered from it, only its run is loaded (change-loader.ts).
 */
export interface FeedRow extends EnrollmentChange {
  /** (xid, id) as one number: the feed's order. */
  position: bigint;
  /** The rows read together with this one: loading one row's fields loads theirs too (change-loader.ts). */
  batch: FeedRow[];
}

/** A parsed `after`: a position, or a seq from before the xid column (resolved per workspace). */
export type Cursor = { position: bigint } | { legacySeq: bigint };

export function encodeCursor(change: { xid: bigint; id: bigint; seq: bigint | null }): string {
  if (change.xid === 0n && change.seq !== null) return change.seq.toString();
  return (change.xid * SHIFT + change.id).toString();
}

export function decodeCursor(cursor: string, field: string[]): Cursor {
  if (!/^\d{1,39}$/.test(cursor) || BigInt(cursor) >= 2n ** 63n * SHIFT) {
    throw new UserError(`${JSON.stringify(cursor)} is not a valid cursor`, field, 'INVALID_CURSOR');
  }
  const value = BigInt(cursor);
  // Positions of new rows are >= 10^19 (their xid is at least 1); smaller numbers are old seq cursors.
  return value >= SHIFT || value === 0n ? { position: value } : { legacySeq: value };
}

/** An old seq cursor names the same place: after the last pre-xid row with seq <= it (ids followed seq under the old lock). */
async function resolveCursor(db: Db, workspaceId: string, cursor: Cursor): Promise<bigint> {
  if ('position' in cursor) return cursor.position;
  const [row] = await db.$queryRaw<{ id: bigint | null }[]>`
    SELECT max(id) AS id FROM "EnrollmentChange" WHERE "workspaceId" = ${workspaceId}::uuid AND xid = 0 AND seq <= ${cursor.legacySeq}`;
  return row?.id ?? 0n;
}

/**
 * The horizon of the statement's snapshot (see the note at the top). pg_locks is
 * read once (one consistent copy of the lock table): a transaction's own id lock
 * (transactionid, ExclusiveLock) and the log writer lock of this database
 * (classid/objid as in stepwise_change_key(), objsubid 2: the two-key form),
 * matched by the holding backend's pid: a backend runs one transaction at a time
 * and releases its id lock before its advisory ones. Not by virtualtransaction:
 * that is read from the backend as each row is copied, and a committing backend
 * resets it meanwhile, so one writer's two locks could show two different ones
 * (a writer left out while it commits: test/realtime/horizon-race.test.ts).
 */
const HORIZON = Prisma.sql`
  SELECT coalesce(
    (SELECT min(x) FROM pg_snapshot_xip(pg_current_snapshot()) AS x
      WHERE xid(x) NOT IN (SELECT t.transactionid FROM locks t WHERE t.locktype = 'transactionid'
                           AND NOT EXISTS (SELECT 1 FROM locks w WHERE w.locktype = 'advisory' AND w.pid = t.pid))),
    pg_snapshot_xmax(pg_current_snapshot()))::text::bigint AS horizon`;

const LOCKS = Prisma.sql`
  SELECT l.locktype, l.pid, l.transactionid FROM pg_locks l
  WHERE l.granted AND (l.locktype = 'transactionid' AND l.mode = 'ExclusiveLock'
    OR l.locktype = 'advisory' AND l.classid = 1400139895 AND l.objid = 1 AND l.objsubid = 2
       AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()))`;

interface RawRow extends Omit<EnrollmentChange, 'id' | 'xid'> {
  id: bigint | null;
  xid: bigint | null;
  horizon: bigint;
  held: boolean;
  quiet: boolean;
}

interface ReadResult {
  rows: FeedRow[];
  /** The first key not readable yet: the oldest writer in flight, or the first id not completed. */
  horizon: bigint;
  /** Everything at or below this position that matches has been read. */
  complete: bigint;
  /** Committed changes wait above the horizon, behind an older transaction still open. */
  held: boolean;
  /**
   * Held, with no writer of the log in flight: the changes' keys are the first id
   * not completed when they were taken, and wait for any newer transaction to end
   * (the writer's NOTIFY after its commit is one; see `advanceCompleted`).
   */
  stalled: boolean;
}

/**
 * Reads up to `limit` changes after `after`, in order, stopping below the horizon
 * (exported for the test that races it against committing writers).
 * The horizon comes from the statement's own snapshot (pg_current_snapshot() is
 * the active snapshot), so it matches exactly the rows the statement sees.
 */
export async function readLog(db: Db, filter: FeedFilter, after: bigint, limit: number, newest = false): Promise<ReadResult> {
  const query = logQuery(filter, after, limit, newest);
  return readResult(await dbQueryText<RawRow>(db, query.text, query.values, { prepared: true }), limit, newest);
}

/** The statement of readLog. */
function logQuery(filter: FeedFilter, after: bigint, limit: number, newest: boolean): Prisma.Sql {
  const conditions = [
    Prisma.sql`c."workspaceId" = ${filter.workspaceId}::uuid`,
    Prisma.sql`c.xid < h.horizon`,
    newest ? Prisma.sql`TRUE` : Prisma.sql`(c.xid, c.id) > (${after / SHIFT}::bigint, ${min(after % SHIFT, MAX_ID)}::bigint)`,
  ];
  if (filter.sequenceId) conditions.push(Prisma.sql`c."sequenceId" = ${filter.sequenceId}::uuid`);
  if (filter.subscriberId) conditions.push(Prisma.sql`c."subscriberId" = ${filter.subscriberId}::uuid`);
  if (filter.statuses?.length) conditions.push(Prisma.sql`c.status::text = ANY(${filter.statuses}::text[])`);
  const order = newest ? Prisma.sql`c.xid DESC, c.id DESC` : Prisma.sql`c.xid, c.id`;
  // The lock table is read once and the horizon computed once (MATERIALIZED: inlined,
  // Postgres would read them for each use), and the statement is prepared: a few shapes, values
  // bound, planned once per connection instead of at every read (its plan cost more
  // than running it). `held` is computed once too, as
  // the workspace's newest xid (one probe of the index, whatever the statistics): as an
  // EXISTS beside each row, once ANALYZE had seen one workspace's log, its generic plan
  // read the whole log for every row returned (8 ms a read at 5,000 changes).
  return Prisma.sql`
    WITH locks AS MATERIALIZED (${LOCKS}), h AS MATERIALIZED (
      SELECT x.horizon, x.horizon = pg_snapshot_xmax(pg_current_snapshot())::text::bigint AS quiet,
             coalesce((SELECT max(p.xid) FROM "EnrollmentChange" p WHERE p."workspaceId" = ${filter.workspaceId}::uuid) >= x.horizon, false) AS held
      FROM (${HORIZON}) x)
    SELECT c.id, c.xid, c.seq, c."workspaceId"::text AS "workspaceId", c."enrollmentId"::text AS "enrollmentId",
           c."sequenceId"::text AS "sequenceId", c."subscriberId"::text AS "subscriberId", c."previousStatus"::text AS "previousStatus",
           c.status::text AS status, c.reason, c."occurredAt", h.horizon, h.held, h.quiet
    FROM h
    LEFT JOIN LATERAL (
      SELECT * FROM "EnrollmentChange" c WHERE ${Prisma.join(conditions, ' AND ')} ORDER BY ${order} LIMIT ${limit}
    ) c ON TRUE`;
}

/** readLog's result from its statement's rows. */
function readResult(raw: RawRow[], limit: number, newest: boolean): ReadResult {
  const { horizon, held, quiet } = raw[0]!;
  const batch: FeedRow[] = [];
  for (const r of raw) {
    if (r.id === null || r.xid === null) continue;
    batch.push({
      id: r.id,
      xid: r.xid,
      seq: r.seq,
      workspaceId: r.workspaceId,
      enrollmentId: r.enrollmentId,
      sequenceId: r.sequenceId,
      subscriberId: r.subscriberId,
      previousStatus: r.previousStatus,
      status: r.status,
      reason: r.reason,
      occurredAt: r.occurredAt,
      position: r.xid * SHIFT + r.id,
      batch,
    });
  }
  if (newest) batch.reverse();
  // A full page ends at its last row; a short one has read everything below the horizon.
  const complete = batch.length === limit && !newest ? batch.at(-1)!.position : horizon * SHIFT - 1n;
  return { rows: batch, horizon, complete, held, stalled: held && quiet };
}

/** advanceCompleted's transaction, before a read in the same round trip (its commit need not wait for a flush). */
const ADVANCE = [
  { text: 'BEGIN', values: [] },
  { text: "SELECT set_config('synchronous_commit', 'off', true), pg_current_xact_id()::text", values: [] },
  { text: 'COMMIT', values: [] },
];

/** Waits (at most 2 s) for the log writer with transaction id `xid` to end: its own lock, as stepwise_change_key() takes it. */
function waitForWriter(xid: bigint) {
  return [
    { text: "SELECT set_config('lock_timeout', '2000', true)", values: [] },
    { text: 'SELECT pg_advisory_xact_lock_shared(1400139896, $1::int)', values: [Number(xid % 4294967296n) - 2147483648], prepared: true },
  ];
}

/**
 * Ends a transaction with an id of its own: the first id not completed moves past
 * every key taken so far, so stalled changes become readable even when nothing
 * else writes (the writer died between its commit and its NOTIFY).
 */
export async function advanceCompleted(db: Db): Promise<void> {
  await dbBatch(db, ADVANCE);
}

/** A live feed asleep on its workspace's tail. */
interface Waiter {
  filter: FeedFilter;
  /** Every change up to here has been delivered to the feed or does not match it. */
  cursor: bigint;
  done: (error?: unknown) => void;
}

/** The recent end of one workspace's change log, shared by this process's subscribers. */
class WorkspaceTail {
  rows: FeedRow[] = [];
  /** Every change with floor < position <= head is in `rows`. */
  floor = 0n;
  head = -1n;
  users = 0;
  held = false;
  private stalled = false;
  private heldFor = 0;
  private heldTimer: NodeJS.Timeout | undefined;
  private freshAt = -1;
  private refreshing: Promise<void> | undefined;
  private waiters = new Set<Waiter>();
  /**
   * The waiters following one subscriber, by subscriber; the rest (a sequence, a
   * status, the whole workspace) in `unkeyed`. A wake-up looks at each new row's
   * own subscriber's waiters and the unkeyed ones, not at every waiter: 500
   * subscriptions in a process each checked at every read cost the API 3 % of its CPU.
   */
  private bySubscriber = new Map<string, Set<Waiter>>();
  private unkeyed = new Set<Waiter>();
  /** Every waiter still waiting has been checked against the rows up to here. */
  private checkedTo = -1n;
  private pumping = false;
  /** Reads of the log issued so far, and which of them last said whether changes are held. */
  private reads = 0;
  private heldBy = 0;
  /** A chase is in flight; the horizon the last one was sent behind. */
  private chasing = false;
  private chased: bigint | undefined;
  /**
   * Subscribers whose changes were announced since the last read was issued but not
   * read (no feed here was waiting for them): a feed for one of them reads first.
   */
  private skipped = new Set<string>();
  /** Wakes the pump's wait for a notification, for a read now. */
  private pumpWake = new AbortController();

  constructor(
    private readonly db: Db,
    readonly workspaceId: string,
  ) {}

  /** Makes sure the tail holds every change announced up to `version` (that `filter` may match, when given). */
  async ensureFresh(version: number, filter?: FeedFilter): Promise<void> {
    if (filter && this.missed(filter)) this.freshAt = -1;
    while (this.freshAt < version) {
      if (!this.refreshing) {
        const startedAt = changeVersion(this.workspaceId);
        this.refreshing = this.refresh()
          .then(() => {
            this.freshAt = Math.max(this.freshAt, startedAt);
          })
          .finally(() => {
            this.refreshing = undefined;
          });
      }
      await this.refreshing;
    }
  }

  private async refresh(): Promise<void> {
    if (this.head < 0n) {
      const last = await readLog(this.db, { workspaceId: this.workspaceId }, 0n, TAIL_SIZE, true);
      this.rows = last.rows;
      this.head = last.complete;
      // Fewer rows than the tail holds: it has the whole log, so even cursor 0 reads live.
      this.floor = last.rows.length < TAIL_SIZE ? 0n : last.rows[0]!.position - 1n;
      this.noteHeld(last);
      return;
    }
    for (;;) {
      const { statement, apply } = this.readAfterHead();
      const read = apply(await dbQueryText(this.db, statement.text, statement.values, statement));
      if (read.rows.length < TAIL_SIZE) return;
    }
  }

  /**
   * A read of the log after the head, numbered as it is issued (the pump's refresh,
   * a commit read, a chase), and what to do with its rows: merge them.
   */
  private readAfterHead(): { statement: BatchStatement; apply: (rows: unknown[]) => ReadResult } {
    const issued = ++this.reads;
    // Issued after their notifications came: it reads the skipped changes too.
    this.skipped.clear();
    const query = logQuery({ workspaceId: this.workspaceId }, this.head, TAIL_SIZE, false);
    return {
      statement: { text: query.text, values: query.values, prepared: true },
      apply: (rows) => {
        const read = readResult(rows as RawRow[], TAIL_SIZE, false);
        this.merge(read, issued);
        return read;
      },
    };
  }

  /**
   * Adds what a read after the head found. Reads run concurrently (the pump's
   * refresh, commit reads), so one may start from a head another has moved
   * since: only rows past the head are new. Each read is complete up to its
   * `complete` for good, so the head moves to the furthest.
   */
  private merge(read: ReadResult, issued: number) {
    for (const row of read.rows) if (row.position > this.head) this.rows.push(row);
    if (read.complete > this.head) this.head = read.complete;
    if (this.rows.length > TAIL_SIZE) {
      this.rows = this.rows.slice(-TAIL_SIZE);
      this.floor = this.rows[0]!.position - 1n;
    }
    // Whether changes are held: as the latest read issued says (an earlier one answering later is older news).
    if (read.rows.length < TAIL_SIZE && issued >= this.heldBy) {
      this.heldBy = issued;
      this.noteHeld(read);
    }
  }

  /**
   * The read a transaction of this process that wrote the workspace's log sends
   * after its COMMIT, in the same round trip (readAfterCommit): its changes reach
   * the waiting feeds as the COMMIT is answered, without another round trip and
   * another wait for this process's turn, which under load was most of their lag.
   */
  commitRead(db: Db): CommitRead | undefined {
    // Not before the tail's first read, nor for another client (a test's second runtime).
    if (db !== this.db || this.head < 0n) return undefined;
    const version = changeVersion(this.workspaceId);
    const { statement, apply } = this.readAfterHead();
    return {
      // Its own changes' key may be the first id not completed when it was taken (see the note at
      // the top): ending a transaction with an id first makes them readable at once, not stalled.
      statements: [...ADVANCE, statement],
      done: (raw) => {
        // Failed: the commit's notification wakes the feeds as it would have.
        if (!raw) return false;
        const read = apply(raw);
        // It saw every change announced before it was sent and this commit's own: unless
        // more were announced since (or it read a full page), the pump need not read again.
        const fresh = read.rows.length < TAIL_SIZE && changeVersion(this.workspaceId) === version;
        announceChange(this.workspaceId);
        if (fresh) this.freshAt = Math.max(this.freshAt, changeVersion(this.workspaceId));
        this.wakeDue();
        return true;
      },
    };
  }

  /**
   * While committed changes wait behind an open transaction, read again soon
   * (backing off), not only at the next NOTIFY; when they wait for no writer
   * (stalled), move the completed ids on first.
   */
  private noteHeld(read: ReadResult) {
    const { held, stalled } = read;
    this.held = held;
    this.stalled = stalled;
    noteHeldForEchoes(this.workspaceId, held);
    if (!held) {
      this.heldFor = 0;
      this.chased = undefined;
      return;
    }
    if (this.users === 0) return;
    this.chase(read);
    if (this.heldTimer) return;
    const delay = Math.min(HELD_POLL_MS[1], HELD_POLL_MS[0] * 2 ** this.heldFor++);
    this.heldTimer = setTimeout(() => {
      const advanced = this.stalled ? advanceCompleted(this.db).catch(() => {}) : Promise.resolve();
      void advanced.then(() => {
        this.heldTimer = undefined;
        announceChange(this.workspaceId);
      });
    }, delay);
    this.heldTimer.unref();
  }

  /**
   * Reads again as soon as held changes can be read, in one round trip: behind a
   * writer in flight, after waiting in Postgres for that writer to end (its own
   * lock, see stepwise_change_key()); stalled, after ending a transaction with an
   * id of its own (advanceCompleted). Under load most reads find something held
   * (another process's writer between its log write and its commit): waiting for
   * that writer's NOTIFY and this process's next turn to read was most of a
   * change's lag. One chase at a time, and not twice behind one horizon (a writer
   * that does not hold its own lock): the backing-off re-reads take over.
   */
  private chase(read: ReadResult) {
    if (this.chasing || read.horizon === this.chased) return;
    this.chasing = true;
    this.chased = read.horizon;
    const { statement, apply } = this.readAfterHead();
    const first = read.stalled ? ADVANCE : waitForWriter(read.horizon);
    dbBatch(this.db, [...first, statement]).then(
      (results) => {
        this.chasing = false;
        apply(results.at(-1)!.rows);
        this.wakeDue();
      },
      () => {
        // A writer holding its lock past the timeout, a lost connection: the re-reads go on.
        this.chasing = false;
      },
    );
  }

  /**
   * Sleeps until the tail holds a change after `cursor` that the filter matches, or
   * no longer holds the cursor (replay), or POLL_MS passed, or the signal aborts.
   * Resolves with the cursor, moved past the changes that did not match.
   */
  next(filter: FeedFilter, cursor: bigint, signal?: AbortSignal): Promise<bigint> {
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        filter,
        cursor,
        done: (error) => {
          clearTimeout(timer);
          signal?.removeEventListener('abort', onAbort);
          if (this.waiters.delete(waiter)) {
            this.unindex(waiter);
            // Checked with the others since it began waiting: nothing up to there matched.
            if (this.checkedTo > waiter.cursor) waiter.cursor = this.checkedTo;
          }
          if (error) reject(error);
          else resolve(waiter.cursor);
        },
      };
      const onAbort = () => waiter.done();
      // The poll also lets a feed whose subscription ended see that it did.
      const timer = setTimeout(onAbort, POLL_MS);
      signal?.addEventListener('abort', onAbort, { once: true });
      if (this.missed(filter)) {
        // Its changes were announced while no feed here waited for them: read now.
        this.freshAt = -1;
        this.pumpWake.abort();
      }
      if (signal?.aborted || this.due(waiter)) return waiter.done();
      // due() moved it to the head; wake-ups look only at rows after checkedTo (with
      // nobody waiting, none need looking at).
      if (!this.waiters.size) this.checkedTo = this.head;
      this.waiters.add(waiter);
      this.index(waiter);
      void this.pump();
    });
  }

  /** Whether a waiter has something to do; if not, moves it past the rows it has no use for. */
  private due(waiter: Waiter): boolean {
    if (waiter.cursor < this.floor) return true;
    const { rows, head } = this;
    for (let i = firstAfter(rows, waiter.cursor); i < rows.length && rows[i]!.position <= head; i++) {
      if (matches(waiter.filter, rows[i]!)) return true;
    }
    if (head > waiter.cursor) waiter.cursor = head;
    return false;
  }

  /** Whether changes a feed with this filter may want were announced and not read (see `skipped`). */
  private missed(filter: FeedFilter): boolean {
    if (!this.skipped.size) return false;
    return filter.subscriberId ? this.skipped.has(filter.subscriberId) : true;
  }

  /**
   * Whether a notification naming these subscribers can go unread: no feed here
   * waits for any of them, none waits for every subscriber, and no read found
   * changes held (a notification is also the news that a transaction ended).
   */
  unconcerned(subscribers: readonly string[]): boolean {
    return !this.held && !this.unkeyed.size && subscribers.every((s) => !this.bySubscriber.has(s));
  }

  private index(waiter: Waiter) {
    const key = waiter.filter.subscriberId;
    if (!key) return void this.unkeyed.add(waiter);
    let set = this.bySubscriber.get(key);
    if (!set) this.bySubscriber.set(key, (set = new Set()));
    set.add(waiter);
  }

  private unindex(waiter: Waiter) {
    const key = waiter.filter.subscriberId;
    if (!key) return void this.unkeyed.delete(waiter);
    const set = this.bySubscriber.get(key);
    set?.delete(waiter);
    if (set?.size === 0) this.bySubscriber.delete(key);
  }

  /** After a refresh: wakes the waiters that a row read since the last wake-up matches (or that fell below the floor). */
  private wakeDue() {
    const { rows, head } = this;
    if (this.checkedTo < this.floor) {
      // Rows were dropped unseen by the wake-ups (a burst larger than the tail): every waiter is looked at.
      for (const waiter of [...this.waiters]) if (this.due(waiter)) waiter.done();
      this.checkedTo = head;
      return;
    }
    const woken = new Set<Waiter>();
    for (let i = firstAfter(rows, this.checkedTo); i < rows.length && rows[i]!.position <= head; i++) {
      const row = rows[i]!;
      for (const candidates of [this.bySubscriber.get(row.subscriberId), this.unkeyed]) {
        if (candidates) for (const waiter of candidates) if (row.position > waiter.cursor && matches(waiter.filter, row)) woken.add(waiter);
      }
    }
    for (const waiter of woken) waiter.done();
    this.checkedTo = head;
  }

  /** While feeds wait: each wake-up (NOTIFY, held re-read or poll) refreshes the tail once, then wakes the feeds it has a change for. */
  private async pump(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    try {
      while (this.waiters.size) {
        let version = changeVersion(this.workspaceId);
        try {
          await this.ensureFresh(version);
        } catch (error) {
          for (const waiter of [...this.waiters]) waiter.done(error);
          return;
        }
        this.wakeDue();
        for (;;) {
          if (!this.waiters.size || changeVersion(this.workspaceId) > version) break;
          if (this.pumpWake.signal.aborted) this.pumpWake = new AbortController();
          const subscribers = await waitForChange(this.workspaceId, POLL_MS, this.pumpWake.signal);
          const now = changeVersion(this.workspaceId);
          // No NOTIFY within the poll (one may have been missed), or a feed asks: read again anyway.
          if (now === version) bumpChangeVersion(this.workspaceId);
          // One notification, for subscribers no feed here waits for: noted, not read.
          else if (now === version + 1 && subscribers && this.unconcerned(subscribers)) {
            for (const s of subscribers) this.skipped.add(s);
            this.freshAt = Math.max(this.freshAt, now);
            version = now;
            continue;
          }
          break;
        }
      }
    } finally {
      this.pumping = false;
    }
  }

  close() {
    clearTimeout(this.heldTimer);
    noteHeldForEchoes(this.workspaceId, false);
  }
}

const tails = new Map<string, WorkspaceTail>();

/** Clients whose transactions read their workspace's tail after their COMMIT. */
const readingAfterCommit = new WeakSet<Db>();

function useTail(db: Db, workspaceId: string): WorkspaceTail {
  if (!readingAfterCommit.has(db)) {
    readingAfterCommit.add(db);
    readAfterCommit(db, CHANGES_CHANNEL, (payload) => {
      const { topic, subscribers } = parseChangePayload(payload);
      const tail = tails.get(topic);
      // Stats alone (no run changed), or runs no feed here waits for: the notification tells the pump.
      if (!tail || subscribers?.length === 0 || (subscribers && tail.unconcerned(subscribers))) return undefined;
      return tail.commitRead(db);
    });
  }
  let tail = tails.get(workspaceId);
  if (!tail) tails.set(workspaceId, (tail = new WorkspaceTail(db, workspaceId)));
  tail.users += 1;
  return tail;
}

function releaseTail(tail: WorkspaceTail) {
  tail.users -= 1;
  if (tail.users === 0) {
    tail.close();
    tails.delete(tail.workspaceId);
  }
}

/** Whether this process's last read of a workspace found committed changes waiting behind an open transaction (tests, diagnostics). */
export function changesHeld(workspaceId: string): boolean {
  return tails.get(workspaceId)?.held ?? false;
}

/** The index of the first row after `position` in rows sorted by position. */
function firstAfter(rows: FeedRow[], position: bigint): number {
  let low = 0;
  let high = rows.length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if (rows[mid]!.position <= position) low = mid + 1;
    else high = mid;
  }
  return low;
}

function matches(filter: FeedFilter, row: FeedRow): boolean {
  return (
    (!filter.sequenceId || row.sequenceId === filter.sequenceId) &&
    (!filter.subscriberId || row.subscriberId === filter.subscriberId) &&
    (!filter.statuses?.length || filter.statuses.includes(row.status))
  );
}

export async function* changeFeed(db: Db, filter: FeedFilter, after: Cursor | null, signal?: AbortSignal): AsyncGenerator<FeedRow> {
  const tail = useTail(db, filter.workspaceId);
  try {
    await tail.ensureFresh(changeVersion(filter.workspaceId), filter);
    // Without a cursor the feed starts now: only changes read from here on.
    let cursor = after ? await resolveCursor(db, filter.workspaceId, after) : tail.head;
    while (!signal?.aborted) {
      if (cursor >= tail.floor) {
        // Live: everything after the cursor is in the shared tail.
        const { head, rows } = tail;
        // The tail is in position order: start after the cursor, not at its first of thousands of rows.
        for (let i = firstAfter(rows, cursor); i < rows.length; i++) {
          const row = rows[i]!;
          if (row.position > head) break;
          if (matches(filter, row)) yield row;
          cursor = row.position;
        }
        if (cursor < head) cursor = head;
        cursor = await tail.next(filter, cursor, signal);
      } else {
        // Replay: read the log from the cursor on, a batch at a time.
        const read = await readLog(db, filter, cursor, BATCH);
        for (const row of read.rows) {
          cursor = row.position;
          yield row;
        }
        // Nothing (more) matches up to where this read was complete: skip there, at most to where the tail begins.
        const through = read.complete < tail.floor ? read.complete : tail.floor;
        const moved = read.rows.length > 0 || through > cursor;
        if (through > cursor) cursor = through;
        if (moved) continue;
        // Held below the horizon by an open transaction: wait for a wake-up, then read again.
        const version = changeVersion(filter.workspaceId);
        await waitForChange(filter.workspaceId, POLL_MS, signal);
        await tail.ensureFresh(changeVersion(filter.workspaceId) > version ? changeVersion(filter.workspaceId) : bumpChangeVersion(filter.workspaceId), filter);
      }
    }
  } finally {
    releaseTail(tail);
  }
}
