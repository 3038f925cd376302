// testClockChanged: the workspace's test clock each time it changes (ADVANCING,
// then READY at its target). The advance NOTIFYs on the change log's channel
// with the clock's own key (engine/test-clock.ts), so this works across
// processes; a poll backs the NOTIFY up. Changes that follow each other faster
// than a read are reported as the latest state.
import type { Db } from '../db/client.js';
import { readTestClock, testClockTopic, type TestClockState } from '../engine/test-clock.js';
import { waitForChange } from './change-notifier.js';

const POLL_MS = 2_000;

const same = (a: TestClockState, b: TestClockState) =>
  a.status === b.status && a.frozenTime.getTime() === b.frozenTime.getTime() && a.advancingTo?.getTime() === b.advancingTo?.getTime();

export async function* testClockFeed(db: Db, workspaceId: string, signal?: AbortSignal): AsyncGenerator<TestClockState> {
  let last = await readTestClock(db, workspaceId);
  if (!last) throw new Error(`workspace ${workspaceId} has no test clock`); // the resolver checks the key first
  while (!signal?.aborted) {
    await waitForChange(testClockTopic(workspaceId), POLL_MS, signal);
    const state = await readTestClock(db, workspaceId);
    if (!state || same(state, last)) continue;
    last = state;
    yield state;
  }
}
