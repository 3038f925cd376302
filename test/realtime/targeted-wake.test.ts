// A change notification names the subscribers whose runs changed (or none: stats
// only). A process whose waiting feeds follow none of them does not read the log
// for it; a feed that later waits for one of them reads at once, and a feed that
// follows every subscriber is woken by each.
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, expect, it } from 'vitest';
import { createWorkspaceWithKey } from '../../src/auth/api-keys.js';
import { poolOf } from '../../src/db/client.js';
import { changePayload } from '../../src/domain/change-notification.js';
import { CHANGES_CHANNEL } from '../../src/engine/run-status.js';
import { changeFeed, type FeedFilter, type FeedRow } from '../../src/realtime/change-feed.js';
import { changeVersion } from '../../src/realtime/change-notifier.js';
import { useTestRuntime } from '../helpers/runtime.js';
import { waitFor } from '../helpers/wait-for.js';

const { prisma, runtime, url } = await useTestRuntime();
// Another process's writes: its own connection, its NOTIFY after its commit.
const other = new pg.Client({ connectionString: url });
await other.connect();
const feeds: AbortController[] = [];
afterAll(async () => {
  feeds.forEach((f) => f.abort());
  await other.end();
});

// The tail's own reads of the log, by workspace (the statement's first value).
const pool = poolOf(runtime.db)!;
const poolQuery = pool.query.bind(pool) as (...args: unknown[]) => unknown;
const readsOf = new Map<string, number>();
pool.query = ((...args: unknown[]) => {
  const config = args[0] as { text?: string; values?: unknown[] } | string;
  if (typeof config !== 'string' && (config.text ?? '').includes('pg_snapshot_xip')) {
    const workspaceId = String(config.values?.[0]);
    readsOf.set(workspaceId, (readsOf.get(workspaceId) ?? 0) + 1);
  }
  return poolQuery(...args);
}) as typeof pool.query;

const sequenceId = randomUUID();

async function logChange(workspaceId: string, subscriberId: string, reason: string) {
  await other.query('BEGIN');
  await other.query(
    `INSERT INTO "EnrollmentChange" ("workspaceId", "enrollmentId", "sequenceId", "subscriberId", status, reason) VALUES ($1, $2, $3, $4, 'ACTIVE', $5)`,
    [workspaceId, randomUUID(), sequenceId, subscriberId, reason],
  );
  await other.query('COMMIT');
  await other.query('SELECT pg_notify($1, $2)', [CHANGES_CHANNEL, changePayload(workspaceId, [subscriberId])]);
}

/** Sends a notification and waits until this process has taken it in. */
async function announced(workspaceId: string, send: () => Promise<unknown>) {
  const version = changeVersion(workspaceId);
  await send();
  await waitFor(() => changeVersion(workspaceId) > version, { message: 'the notification taken in' });
}

function follow(filter: FeedFilter): FeedRow[] {
  const rows: FeedRow[] = [];
  const abort = new AbortController();
  feeds.push(abort);
  void (async () => {
    for await (const row of changeFeed(runtime.db, filter, { position: 0n }, abort.signal)) rows.push(row);
  })();
  return rows;
}

it('reads the log for a notification only when a feed here waits for one of its subscribers', { timeout: 30_000 }, async () => {
  const { workspaceId } = await createWorkspaceWithKey(prisma, 'one subscriber');
  const [a, b] = [randomUUID(), randomUUID()];
  const rowsOfA = follow({ workspaceId, subscriberId: a });
  await logChange(workspaceId, a, 'a0');
  await waitFor(() => rowsOfA.length === 1, { message: "a's first change" });

  readsOf.set(workspaceId, 0);
  // Twenty changes of another subscriber and ten stats notifications, each taken in before the next.
  for (let i = 0; i < 20; i++) {
    await announced(workspaceId, () => logChange(workspaceId, b, `b${i}`));
    if (i % 2 === 0) await announced(workspaceId, () => other.query('SELECT pg_notify($1, $2)', [CHANGES_CHANNEL, changePayload(workspaceId, [])]));
  }
  await logChange(workspaceId, a, 'a1');
  await waitFor(() => rowsOfA.length === 2, { message: "a's second change" });
  expect(rowsOfA.map((r) => r.reason)).toEqual(['a0', 'a1']);
  // The read for a's change; the feeds' 2 s poll may add one. Read at every notification, 31.
  expect(readsOf.get(workspaceId)).toBeLessThanOrEqual(2);

  // Five more of b's changes, not read: a feed for b that starts now reads them at once (no poll, no notification).
  for (let i = 20; i < 25; i++) await announced(workspaceId, () => logChange(workspaceId, b, `b${i}`));
  const version = changeVersion(workspaceId);
  const rowsOfB = follow({ workspaceId, subscriberId: b });
  await waitFor(() => rowsOfB.length === 25, { message: "b's twenty-five changes" });
  expect(rowsOfB.map((r) => r.reason)).toEqual(Array.from({ length: 25 }, (_, i) => `b${i}`));
  expect(changeVersion(workspaceId)).toBe(version);

  // While b's feed waits, b's changes are read as they are announced.
  await logChange(workspaceId, b, 'b25');
  await waitFor(() => rowsOfB.length === 26, { message: "b's next change" });
  expect(rowsOfA).toHaveLength(2);
});

it('a feed waiting for every subscriber is woken by each notification', { timeout: 30_000 }, async () => {
  const { workspaceId } = await createWorkspaceWithKey(prisma, 'every subscriber');
  const [a, b] = [randomUUID(), randomUUID()];
  const rowsOfA = follow({ workspaceId, subscriberId: a });
  const all = follow({ workspaceId });
  await logChange(workspaceId, a, 'a0');
  await waitFor(() => rowsOfA.length === 1 && all.length === 1, { message: "a's first change in both feeds" });

  for (let i = 0; i < 5; i++) {
    const version = changeVersion(workspaceId);
    await logChange(workspaceId, b, `b${i}`);
    await waitFor(() => all.length === i + 2, { message: `b's change ${i} in the feed of every subscriber` });
    // Read for its notification, not for a poll.
    expect(changeVersion(workspaceId)).toBe(version + 1);
  }
  expect(all.map((r) => r.reason)).toEqual(['a0', 'b0', 'b1', 'b2', 'b3', 'b4']);
  expect(rowsOfA).toHaveLength(1);
});
