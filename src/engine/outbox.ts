// Hands claimed steps over after their batch committed: emails to the relay
// through the process's pooled transport, discounts to their provider. A slot is
// held from the hand-off until the relay's answer is recorded, so at most `slots`
// messages per process are ever accepted by the relay but not yet recorded SENT —
// the most a crash can make the relay see twice (each time with the same
// Message-ID). Accepted messages are recorded together: one transaction for all
// that arrived while the previous one committed.
import type { OutgoingMail } from '../mail/transport.js';
import type { EngineContext } from './context.js';
import { recordRefused, recordSent, runDiscount, type EmailHandoff, type Handoff } from './step-batch.js';
import { testWorkspaces } from './test-workspaces.js';

/**
 * The one point where an email leaves for its relay: a test workspace's is
 * captured (and relayed only to TEST_SMTP_URL), a live one's goes to SMTP_URL.
 * Throws when the relay refuses it or cannot be reached.
 */
export async function handOver(ctx: Pick<EngineContext, 'db' | 'mail' | 'clock'>, workspaceId: string, mail: OutgoingMail): Promise<void> {
  const test = (await testWorkspaces(ctx.db, [workspaceId])).has(workspaceId);
  if (test) await ctx.mail.test.send({ ...mail, date: ctx.clock.now() });
  else await ctx.mail.transport.send(mail);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Records an outcome, trying again while the database is away (a restart, a
 * failover): the relay's answer is already known, so its jobs must not wait for
 * their expiry (minutes) nor the email go out again. Gives up after about a minute.
 */
async function untilRecorded<T>(record: () => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await record();
    } catch (error) {
      if (attempt >= 40) throw error;
      await sleep(Math.min(2_000, 100 * 2 ** attempt));
    }
  }
}

interface PendingRecord {
  ctx: EngineContext;
  handoff: EmailHandoff;
  resolve: () => void;
  reject: (error: unknown) => void;
}

export class Outbox {
  private free: number;
  private readonly waiting: (() => void)[] = [];
  private readonly pending: PendingRecord[] = [];
  private flushing = false;
  private active = 0;
  private readonly idle: (() => void)[] = [];

  constructor(readonly slots: number) {
    this.free = slots;
  }

  /** Hand-offs dispatched and not yet finished. */
  get inFlight(): number {
    return this.active;
  }

  /**
   * Hands one over and records the outcome. Resolves once recorded; rejects when
   * the step is left to retry and there is no job to retry it (a direct call).
   * `ctx` is the claim's: its transport, and its clock for the record.
   */
  async dispatch(ctx: EngineContext, handoff: Handoff): Promise<void> {
    this.active += 1;
    try {
      if (handoff.kind === 'discount') {
        const result = await runDiscount(ctx, handoff);
        if (result.retry && !handoff.item.jobId) throw result.error;
        return;
      }
      await this.acquire();
      try {
        await handOver(ctx, handoff.ref.workspaceId, handoff.mail);
      } catch (error) {
        this.release();
        const retry = await untilRecorded(() => recordRefused(ctx, handoff, error));
        if (retry && !handoff.item.jobId) throw error;
        return;
      }
      try {
        await new Promise<void>((resolve, reject) => {
          this.pending.push({ ctx, handoff, resolve, reject });
          void this.flush();
        });
      } finally {
        this.release();
      }
    } finally {
      this.active -= 1;
      if (this.active === 0) for (const wake of this.idle.splice(0)) wake();
    }
  }

  /** Dispatches without waiting; failures are logged (the job retries after its expiry). */
  send(ctx: EngineContext, handoff: Handoff): void {
    this.dispatch(ctx, handoff).catch((error: unknown) => console.error(`step hand-off of run ${handoff.ref.id} not recorded`, error));
  }

  /** Resolves when nothing is in flight (for a graceful stop). */
  drained(): Promise<void> {
    return this.active === 0 ? Promise.resolve() : new Promise((resolve) => this.idle.push(resolve));
  }

  private async flush() {
    if (this.flushing) return;
    this.flushing = true;
    try {
      while (this.pending.length) {
        // One transaction per context (a workspace on its own clock records on that clock).
        const batch = this.pending.splice(0);
        for (const ctx of new Set(batch.map((p) => p.ctx))) {
          const mine = batch.filter((p) => p.ctx === ctx);
          try {
            await untilRecorded(() => recordSent(ctx, mine.map((p) => p.handoff)));
            for (const p of mine) p.resolve();
          } catch (error) {
            for (const p of mine) p.reject(error);
          }
        }
      }
    } finally {
      this.flushing = false;
    }
  }

  private acquire(): Promise<void> {
    if (this.free > 0) {
      this.free -= 1;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  private release() {
    const next = this.waiting.shift();
    if (next) next();
    else this.free += 1;
  }
}
