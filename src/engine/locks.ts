import { createHash } from 'node:crypto';
import type { Tx } from '../db/client.js';

/** Row locks: edits, status changes and step runs of one run (or sequence) apply one after the other. */
export async function lockRunRow(tx: Tx, enrollmentId: string): Promise<void> {
  await tx.$executeRaw`SELECT 1 FROM "Enrollment" WHERE id = ${enrollmentId}::uuid FOR UPDATE`;
}

export async function lockSequenceRow(tx: Tx, sequenceId: string): Promise<void> {
  await tx.$executeRaw`SELECT 1 FROM "Sequence" WHERE id = ${sequenceId}::uuid FOR UPDATE`;
}

/**
 * A transaction-scoped advisory lock named by `parts`: serialises only the work
 * that competes for the same limit (one sequence's throttle, one subscriber's
 * one-time run), and is released at commit.
 */
export async function advisoryLock(tx: Tx, ...parts: string[]): Promise<void> {
  await tx.$executeRaw`SELECT pg_advisory_xact_lock(${lockKey(parts)})`;
}

/**
 * Many advisory locks (each named by its parts) in one statement, taken in a
 * fixed order so that two batches competing for the same names cannot deadlock.
 */
export async function advisoryLocks(tx: Tx, names: string[][]): Promise<void> {
  const keys = [...new Set(names.map((parts) => lockKey(parts)))].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  if (!keys.length) return;
  await tx.$executeRaw`SELECT count(pg_advisory_xact_lock(k)) FROM unnest(${keys.map(String)}::bigint[]) AS k`;
}

function lockKey(parts: string[]): bigint {
  return createHash('sha256').update(parts.join('\u0000')).digest().readBigInt64BE(0);
}
