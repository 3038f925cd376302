// The live figures of one sequence: read now, then again when the workspace
// changes (a NOTIFY from run changes, sends and tracking writes; a poll as the
// safety net), at most MIN_INTERVAL_MS apart, and pushed only when they differ.
// However many opens arrive, a subscriber gets at most a few updates a second.
import type { Db } from '../db/client.js';
import { loadSequenceStats, type SequenceStats } from '../services/stats.js';
import { waitForChange } from './change-notifier.js';

/** At most four reads (and pushes) a second per subscription. */
export const MIN_INTERVAL_MS = 250;
const POLL_MS = 5_000;

export async function* statsFeed(db: Db, workspaceId: string, sequenceId: string, signal?: AbortSignal): AsyncGenerator<SequenceStats> {
  let last: string | undefined;
  while (!signal?.aborted) {
    const readAt = Date.now();
    const [stats] = await loadSequenceStats(db, [sequenceId]);
    const key = JSON.stringify(stats);
    if (key !== last) {
      last = key;
      yield stats!;
    }
    await waitForChange(workspaceId, POLL_MS, signal);
    const rest = MIN_INTERVAL_MS - (Date.now() - readAt);
    if (rest > 0 && !signal?.aborted) await new Promise((resolve) => setTimeout(resolve, rest));
  }
}
