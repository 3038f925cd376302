// The app plus the engine: pg-boss and its workers on the test database, mail
// to a local SMTP server, and a controllable clock.
import { afterAll } from 'vitest';
import { useClock } from '../../src/clock.js';
import { boss } from '../../src/engine/boss.js';
import { startWorkers } from '../../src/engine/workers.js';
import { configureMail } from '../../src/mail/transport.js';
import { db } from '../../src/db/client.js';
import { useTestApp } from './app.js';
import { startSmtpSink } from './smtp-sink.js';
import { waitFor } from './wait-for.js';

/** A clock that runs with real time plus an offset tests can move forward. */
export class ShiftableClock {
  offsetMs = 0;
  now = () => new Date(Date.now() + this.offsetMs);
}

export async function useTestEngine(options: { concurrency?: number } = {}) {
  const t = await useTestApp();
  const smtp = await startSmtpSink();
  configureMail({ smtpUrl: smtp.url, from: 'Stepwise Test <test@stepwise.test>' });
  const clock = new ShiftableClock();
  const restoreClock = useClock(clock);
  await startWorkers(t.jobs, { concurrency: options.concurrency ?? 4, pollingIntervalSeconds: 0.5 });
  afterAll(async () => {
    restoreClock();
    await smtp.close();
  });

  /**
   * Moves engine time forward: the clock, and every waiting job by the same
   * amount, as if that much time had passed.
   */
  async function advance(ms: number) {
    clock.offsetMs += ms;
    await db().$executeRawUnsafe(
      `UPDATE pgboss.job SET start_after = start_after - make_interval(secs => $1) WHERE state IN ('created', 'retry')`,
      ms / 1000,
    );
  }

  /** Waits until `check` returns a truthy value (polling the database). */
  function until<T>(check: () => Promise<T | null | undefined | false>, timeoutMs = 20_000): Promise<T> {
    return waitFor(check, { timeout: timeoutMs, interval: 100 }) as Promise<T>;
  }

  return { ...t, smtp, clock, advance, until, boss };
}
