// A change committed by this process wakes its own feeds as it is announced, not
// after the NOTIFY's round trip through Postgres, and the echo of that NOTIFY is
// passed over, unless a read found changes held back meanwhile.
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, expect, it } from 'vitest';
import { notifierOf } from '../../src/db/client.js';
import { CHANGES_CHANNEL, notifyStatsNow } from '../../src/engine/run-status.js';
import { changeVersion, noteHeld, waitForChange } from '../../src/realtime/change-notifier.js';
import { useTestRuntime } from '../helpers/runtime.js';
import { waitFor } from '../helpers/wait-for.js';

const { runtime, url } = await useTestRuntime();
const other = new pg.Client({ connectionString: url });
await other.connect();
afterAll(() => other.end());

/** Resolves once this process's listener has taken in every notification committed before now (Postgres delivers them in commit order). */
async function listenerCaughtUp() {
  await notifierOf(runtime.db)!.flushed();
  const marker = randomUUID();
  await other.query('SELECT pg_notify($1, $2)', [CHANGES_CHANNEL, marker]);
  await waitFor(() => changeVersion(marker) === 1, { message: 'the marker notification' });
}

it("wakes this process's readers as the change is announced, and passes over its echo", async () => {
  const workspaceId = randomUUID();
  let woken = false;
  void waitForChange(workspaceId, 60_000).then(() => (woken = true));
  notifyStatsNow(runtime.db, workspaceId);
  // Delivered in the same tick: the waiter's promise settles with the next microtasks.
  await Promise.resolve();
  expect(woken).toBe(true);
  expect(changeVersion(workspaceId)).toBe(1);

  await listenerCaughtUp();
  expect(changeVersion(workspaceId)).toBe(1);
});

it('an echo wakes the readers again while their last read found changes held', async () => {
  const workspaceId = randomUUID();
  noteHeld(workspaceId, true);
  try {
    notifyStatsNow(runtime.db, workspaceId);
    await listenerCaughtUp();
    expect(changeVersion(workspaceId)).toBe(2);
  } finally {
    noteHeld(workspaceId, false);
  }
});

it("another connection's notification wakes the readers", async () => {
  const workspaceId = randomUUID();
  await other.query('SELECT pg_notify($1, $2)', [CHANGES_CHANNEL, workspaceId]);
  await waitFor(() => changeVersion(workspaceId) === 1, { message: 'the notification of another connection' });
});
