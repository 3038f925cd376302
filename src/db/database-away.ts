// Work that failed because the database went away (a restart, a failover) is run
// again as soon as it is back. A pg-boss job whose handler lost the database
// cannot even be marked failed: it would stay active until its expiry (minutes)
// and the next maintenance, and the run waiting on it with it. The database is
// "away" when a one-row probe fails too; a failure while it answers is the
// work's own and is thrown at once (the queue's retries apply as before).

export interface RetryWhileAwayOptions {
  /** Stop waiting for the database after this long and throw the work's error (ms). */
  giveUpMs?: number;
  /** Longest pause between two probes (ms). */
  maxPauseMs?: number;
  sleep?: (ms: number) => Promise<void>;
  /** A monotonic clock in ms (real time: this waits for a server, not for engine time). */
  now?: () => number;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Runs `work`; while it fails and `probe` fails too, waits for the database and runs it again. */
export async function retryWhileDatabaseAway<T>(
  probe: () => Promise<unknown>,
  work: () => Promise<T>,
  options: RetryWhileAwayOptions = {},
): Promise<T> {
  const { giveUpMs = 60_000, maxPauseMs = 500, now = () => performance.now() } = options;
  const pause = options.sleep ?? sleep;
  const deadline = now() + giveUpMs;
  for (;;) {
    try {
      return await work();
    } catch (error) {
      // Pauses stay short (at most maxPauseMs): the work resumes within that of the database's return.
      for (let attempt = 0; ; attempt++) {
        const reachable = await probe().then(
          () => true,
          () => false,
        );
        if (reachable && attempt === 0) throw error;
        if (reachable) break;
        if (now() >= deadline) throw error;
        await pause(Math.min(maxPauseMs, 50 * 2 ** attempt));
      }
    }
  }
}
