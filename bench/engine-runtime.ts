// How the benchmarks start Stepwise's engine, in one place: the engine's shape
// (how workers fetch, how the mail transport is held) changes, and only this file
// should have to follow it.
import { startBoss, stopBoss } from '../src/engine/boss.js';
import { startWorkers } from '../src/engine/workers.js';
import { configureMail } from '../src/mail/transport.js';

export interface BenchEngine {
  stop(): Promise<void>;
}

/**
 * The job queue (always: the API enqueues in its transactions) and, with
 * `workers`, the step workers; mail to `smtpUrl`, or to the outbox without it.
 */
export async function startEngine(url: string, options: { workers?: number; smtpUrl?: string }): Promise<BenchEngine> {
  configureMail({ smtpUrl: options.smtpUrl, from: 'Stepwise Bench <bench@stepwise.local>' });
  const instance = await startBoss(url, { schedule: false, supervise: false });
  if (options.workers) await startWorkers(instance, { concurrency: options.workers });
  return {
    async stop() {
      await stopBoss({ graceful: true, timeout: 2_000 }); // in-flight hand-offs are recorded before the queue goes
      configureMail({ from: 'Stepwise Bench <bench@stepwise.local>' });
    },
  };
}
