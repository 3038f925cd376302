// The app plus the engine: pg-boss and its workers on the test database, mail
// to a local SMTP server, and a controllable clock.
import { afterAll } from 'vitest';
import { useTestApp } from './app.js';
import { startSmtpSink } from './smtp-sink.js';
import { waitFor } from './wait-for.js';

/** A clock that runs with real time plus an offset tests can move forward. */
export class ShiftableClock {
  offsetMs = 0;
  now = () => new Date(Date.now() + this.offsetMs);
}

export async function useTestEngine(options: { concurrency?: number } = {}) {
  const smtp = await startSmtpSink();
  afterAll(() => smtp.close());
  const clock = new ShiftableClock();
  const t = await useTestApp({
    config: { SMTP_URL: smtp.url, MAIL_FROM: 'Stepwise Test <test@stepwise.test>', WORKER_CONCURRENCY: options.concurrency ?? 4 },
    runtime: { clock, workers: { pollingIntervalSeconds: 0.5 } },
  });

  /**
   * Moves engine time forward: the clock, and every waiting job by the same
   * amount, as if that much time had passed.
   */
  async function advance(ms: number) {
    clock.offsetMs += ms;
    await t.prisma.$executeRawUnsafe(
      `UPDATE pgboss.job SET start_after = start_after - make_interval(secs => $1) WHERE state IN ('created', 'retry')`,
      ms / 1000,
    );
  }

  /** Waits until `check` returns a truthy value (polling the database). */
  function until<T>(check: () => Promise<T | null | undefined | false>, timeoutMs = 20_000): Promise<T> {
    return waitFor(check, { timeout: timeoutMs, interval: 100 }) as Promise<T>;
  }

  return { ...t, smtp, clock, advance, until };
}
