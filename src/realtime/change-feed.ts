// The subscription feed of enrollment status changes: replays the change log
// after a cursor, then follows it live, in commit order (seq), with no gap and
// no duplicate at the seam, because replay and live are the same loop reading
// the log. The buffer is one batch: a slow client slows only its own reads
// (the WebSocket server also drops a client whose socket backs up).
import { UserError } from '../domain/errors.js';
import { db } from '../db/client.js';
import type { EnrollmentChange, EnrollmentStatus, Prisma } from '../generated/prisma/client.js';
import { waitForChange } from './change-notifier.js';

const BATCH = 200;
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

async function head(workspaceId: string): Promise<bigint> {
  const last = await db().enrollmentChange.findFirst({ where: { workspaceId }, orderBy: { seq: 'desc' }, select: { seq: true } });
  return last?.seq ?? 0n;
}

export async function* changeFeed(filter: FeedFilter, after: bigint | null, signal?: AbortSignal): AsyncGenerator<EnrollmentChange> {
  // Without a cursor the feed starts now: only changes committed from here on.
  let cursor = after ?? (await head(filter.workspaceId));
  const where: Prisma.EnrollmentChangeWhereInput = {
    workspaceId: filter.workspaceId,
    ...(filter.sequenceId ? { sequenceId: filter.sequenceId } : {}),
    ...(filter.subscriberId ? { subscriberId: filter.subscriberId } : {}),
    ...(filter.statuses?.length ? { status: { in: filter.statuses } } : {}),
  };
  while (!signal?.aborted) {
    const rows = await db().enrollmentChange.findMany({ where: { ...where, seq: { gt: cursor } }, orderBy: { seq: 'asc' }, take: BATCH });
    for (const row of rows) {
      cursor = row.seq;
      yield row;
    }
    // A full batch: more may be waiting, read on without waiting.
    if (rows.length === BATCH) continue;
    await waitForChange(filter.workspaceId, POLL_MS, signal);
  }
}
