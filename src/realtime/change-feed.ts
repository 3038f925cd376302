// The subscription feed of enrollment status changes: replays the change log
// after a cursor, then follows it live, in commit order (seq), with no gap and
// no duplicate at the seam, because replay and live read the same log by seq.
//
// Live reads are shared: per workspace, this process keeps the recent tail of
// the log and refreshes it with one query per wake-up, however many subscribers
// are waiting, so 1,000 subscriptions cost one read per change, not 1,000. A
// subscriber further behind than the tail reads the log itself (replay). The
// buffer per subscriber is one batch: a slow client slows only its own reads
// (and the WebSocket server drops a client whose socket backs up).
import { UserError } from '../domain/errors.js';
import { db } from '../db/client.js';
import type { EnrollmentChange, EnrollmentStatus, Prisma } from '../generated/prisma/client.js';
import { bumpChangeVersion, changeVersion, waitForChange } from './change-notifier.js';

const BATCH = 200;
/** Changes kept in a workspace's shared tail (tests shrink it to exercise replay). */
let TAIL_SIZE = 5_000;

export function configureChangeFeed(options: { tailSize: number }) {
  TAIL_SIZE = options.tailSize;
}
/** Safety net when a NOTIFY is missed. */
const POLL_MS = 2_000;

export interface FeedFilter {
  workspaceId: string;
  sequenceId?: string | null;
  subscriberId?: string | null;
  statuses?: EnrollmentStatus[] | null;
}

export function encodeCursor(seq: bigint): string {
  return seq.toString();
}

export function decodeCursor(cursor: string, field: string[]): bigint {
  if (!/^\d{1,19}$/.test(cursor)) throw new UserError(`${JSON.stringify(cursor)} is not a valid cursor`, field, 'INVALID_CURSOR');
  return BigInt(cursor);
}

/** The recent end of one workspace's change log, shared by this process's subscribers. */
class WorkspaceTail {
  rows: EnrollmentChange[] = [];
  /** Every change with seq > floor and <= head is in `rows`. */
  floor = 0n;
  head = -1n;
  users = 0;
  private freshAt = -1;
  private refreshing: Promise<void> | undefined;

  constructor(readonly workspaceId: string) {}

  /** Makes sure the tail holds every change announced up to `version`. */
  async ensureFresh(version: number): Promise<void> {
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
      const last = await db().enrollmentChange.findMany({
        where: { workspaceId: this.workspaceId },
        orderBy: { seq: 'desc' },
        take: TAIL_SIZE,
      });
      this.rows = last.reverse();
      this.head = this.rows.at(-1)?.seq ?? 0n;
      this.floor = (this.rows[0]?.seq ?? this.head + 1n) - 1n;
      return;
    }
    for (;;) {
      const rows = await db().enrollmentChange.findMany({
        where: { workspaceId: this.workspaceId, seq: { gt: this.head } },
        orderBy: { seq: 'asc' },
        take: TAIL_SIZE,
      });
      for (const row of rows) this.rows.push(row);
      if (rows.length) this.head = rows.at(-1)!.seq;
      if (this.rows.length > TAIL_SIZE) {
        this.rows = this.rows.slice(-TAIL_SIZE);
        this.floor = this.rows[0]!.seq - 1n;
      }
      if (rows.length < TAIL_SIZE) return;
    }
  }
}

const tails = new Map<string, WorkspaceTail>();

function useTail(workspaceId: string): WorkspaceTail {
  let tail = tails.get(workspaceId);
  if (!tail) tails.set(workspaceId, (tail = new WorkspaceTail(workspaceId)));
  tail.users += 1;
  return tail;
}

function releaseTail(tail: WorkspaceTail) {
  tail.users -= 1;
  if (tail.users === 0) tails.delete(tail.workspaceId);
}

function matches(filter: FeedFilter, row: EnrollmentChange): boolean {
  return (
    (!filter.sequenceId || row.sequenceId === filter.sequenceId) &&
    (!filter.subscriberId || row.subscriberId === filter.subscriberId) &&
    (!filter.statuses?.length || filter.statuses.includes(row.status))
  );
}

export async function* changeFeed(filter: FeedFilter, after: bigint | null, signal?: AbortSignal): AsyncGenerator<EnrollmentChange> {
  const tail = useTail(filter.workspaceId);
  try {
    await tail.ensureFresh(changeVersion(filter.workspaceId));
    // Without a cursor the feed starts now: only changes committed from here on.
    let cursor = after ?? tail.head;
    const where: Prisma.EnrollmentChangeWhereInput = {
      workspaceId: filter.workspaceId,
      ...(filter.sequenceId ? { sequenceId: filter.sequenceId } : {}),
      ...(filter.subscriberId ? { subscriberId: filter.subscriberId } : {}),
      ...(filter.statuses?.length ? { status: { in: filter.statuses } } : {}),
    };
    let version = changeVersion(filter.workspaceId);
    while (!signal?.aborted) {
      await tail.ensureFresh(version);
      if (cursor >= tail.floor) {
        // Live: everything after the cursor is in the shared tail.
        const head = tail.head;
        for (const row of tail.rows) {
          if (row.seq <= cursor || row.seq > head) continue;
          if (matches(filter, row)) yield row;
          cursor = row.seq;
        }
        if (cursor < head) cursor = head;
      } else {
        // Replay: read the log from the cursor on, a batch at a time.
        const rows = await db().enrollmentChange.findMany({ where: { ...where, seq: { gt: cursor } }, orderBy: { seq: 'asc' }, take: BATCH });
        for (const row of rows) {
          cursor = row.seq;
          yield row;
        }
        // Nothing (more) matches before the tail: continue from where the tail begins.
        if (rows.length < BATCH && cursor < tail.floor) cursor = tail.floor;
        continue;
      }
      await waitForChange(filter.workspaceId, POLL_MS, signal);
      // Woken by a NOTIFY (the version moved) or by the poll: either way, read again.
      version = changeVersion(filter.workspaceId) > version ? changeVersion(filter.workspaceId) : bumpChangeVersion(filter.workspaceId);
    }
  } finally {
    releaseTail(tail);
  }
}
