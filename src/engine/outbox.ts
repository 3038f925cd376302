// Hands claimed steps over after their batch committed: emails to the relay
// through the process's pooled transport, discounts to their provider. A slot is
// held from the hand-off until the relay's acceptance is recorded (the message
// SENT), so at most `slots` messages per process are ever accepted by the relay
// but not yet recorded — the most a crash can make the relay see twice (each time
// with the same Message-ID). Answers are recorded in two group commits, each for
// all that arrived while its previous one ran (and started once the event loop's
// turn is over, for all the answers of that turn): accepted messages marked SENT in
// one statement (which frees their slots: the relay does not wait on the run's
// bookkeeping), then one transaction for accepted and refused alike that moves
// the runs on and finishes the jobs (step-batch.ts, recordAnswers).
//
// Flow control: the step loops claim only what the outbox can hand over soon
// (`reserve`): the slots, plus what the relay gets through at its measured rate
// (slots ÷ how long a slot is held) while a claim commits and AHEAD_MS more. The
// rest waits in pg-boss, in due order, rather than claimed behind a backlog here.
import type { OutgoingMail } from '../mail/transport.js';
import type { EngineContext } from './context.js';
import { markSent, recordAnswers, runDiscount, type EmailHandoff, type Handoff } from './step-batch.js';
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
      // At most half a second apart, so the answers are recorded within that of the
      // database's return; 130 attempts are still about a minute.
      if (attempt >= 130) throw error;
      await sleep(Math.min(500, 100 * 2 ** attempt));
    }
  }
}

/** Mark statements (markSent) in flight at once, per process. */
const MARKS_AT_ONCE = 3;

/** How far ahead of the relay the step loops claim, in time at its measured rate. */
export const AHEAD_MS = 400;

interface PendingRecord {
  ctx: EngineContext;
  handoff: EmailHandoff;
  /** Unset: the relay accepted it. */
  refused?: { error: unknown };
  /** Settles with true when a refusal left the job to retry. */
  resolve: (retry: boolean) => void;
  reject: (error: unknown) => void;
}

/**
 * Records a group per context (a workspace on its own clock records on that
 * clock), settling each: true when its refusal was left to retry.
 */
async function grouped(batch: PendingRecord[], record: (ctx: EngineContext, mine: PendingRecord[]) => Promise<Set<string>>) {
  for (const ctx of new Set(batch.map((p) => p.ctx))) {
    const mine = batch.filter((p) => p.ctx === ctx);
    try {
      const retry = await record(ctx, mine);
      for (const p of mine) p.resolve(retry.has(p.handoff.messageId));
    } catch (error) {
      for (const p of mine) p.reject(error);
    }
  }
}

/** `fn` once this turn of the event loop is over, however many times it was asked for meanwhile. */
function onceThisTurn(fn: () => void): () => void {
  let due = false;
  return () => {
    if (due) return;
    due = true;
    setImmediate(() => {
      due = false;
      fn();
    });
  };
}

export class Outbox {
  private free: number;
  private readonly waiting: (() => void)[] = [];
  private readonly accepted: PendingRecord[] = [];
  private marking = 0;
  private readonly pending: PendingRecord[] = [];
  private flushing = false;
  private active = 0;
  private reserved = 0;
  private readonly idle: (() => void)[] = [];
  private readonly room: (() => void)[] = [];
  /** Moving average of how long an email holds its slot (hand-off → answer recorded). */
  private holdMs = 50;
  /** Moving average of how long a claim takes (fetch → commit). */
  private claimMs = 100;

  constructor(readonly slots: number) {
    this.free = slots;
  }

  /** Hand-offs dispatched and not yet finished. */
  get inFlight(): number {
    return this.active;
  }

  /**
   * Hand-offs worth having claimed at once: the slots, and what the relay gets
   * through (at its measured rate) while the next claim commits plus AHEAD_MS.
   */
  get ahead(): number {
    return this.slots + Math.round((this.slots * (AHEAD_MS + this.claimMs)) / this.holdMs);
  }

  /**
   * Reserves room for a claim of up to `max` steps: what `ahead` leaves beside the
   * hand-offs in flight and the other claims' reservations (from idle, only the
   * slots), or 0 while that is
   * less than a round of slots (a claim that small costs more than it brings).
   * The claim gives it back with `unreserve` once its hand-offs are dispatched.
   */
  reserve(max: number): number {
    // From idle, one round of slots first: a claim's time grows with its size, and
    // the first emails should not wait for the whole lead (the other loop claims it).
    const idle = this.active === 0 && this.reserved === 0;
    const room = Math.min(max, this.ahead - this.active - this.reserved, idle ? this.slots : Infinity);
    if (room < Math.min(max, this.slots)) return 0;
    this.reserved += room;
    return room;
  }

  unreserve(count: number, claimMs?: number) {
    if (claimMs !== undefined) this.claimMs += (claimMs - this.claimMs) / 5;
    this.reserved -= count;
    this.roomMade();
  }

  /** Resolves when a hand-off finished or a reservation was given back (there may be room to reserve). */
  roomFreed(): Promise<void> {
    return new Promise((resolve) => this.room.push(resolve));
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
      const held = performance.now();
      let refused: { error: unknown } | undefined;
      try {
        await handOver(ctx, handoff.ref.workspaceId, handoff.mail);
      } catch (error) {
        // Nothing accepted, nothing to be seen twice: the slot is free before the record.
        this.release(held);
        refused = { error };
      }
      if (!refused) {
        try {
          await new Promise<boolean>((resolve, reject) => {
            this.accepted.push({ ctx, handoff, resolve, reject });
            this.markSoon();
          });
        } finally {
          this.release(held);
        }
      }
      const retry = await new Promise<boolean>((resolve, reject) => {
        this.pending.push({ ctx, handoff, refused, resolve, reject });
        this.recordSoon();
      });
      if (retry && !handoff.item.jobId) throw refused!.error;
    } finally {
      this.active -= 1;
      this.roomMade();
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

  /**
   * Accepted emails marked SENT, one statement for all accepted since the last
   * one started: their slots free at once. Up to MARKS_AT_ONCE run together, so
   * an acceptance waits for its own statement's commit only, not also for the one
   * before it (with one at a time, half the slots stood behind each commit).
   */
  private async flushMarks() {
    if (this.marking >= MARKS_AT_ONCE || !this.accepted.length) return;
    this.marking += 1;
    try {
      await grouped(this.accepted.splice(0), async (ctx, mine) => {
        await untilRecorded(() => markSent(ctx, mine.map((p) => p.handoff)));
        return new Set();
      });
    } finally {
      this.marking -= 1;
      this.markSoon();
    }
  }

  /**
   * flushMarks once this turn of the event loop is over: the acceptances of one
   * turn (a claim's hand-offs to the outbox transport, relay answers read from
   * one socket read) share one statement instead of starting up to
   * MARKS_AT_ONCE statements of one or two messages each.
   */
  private readonly markSoon = onceThisTurn(() => void this.flushMarks());

  /** flush, likewise once this turn is over: the group's first record carries the whole turn's answers. */
  private readonly recordSoon = onceThisTurn(() => void this.flush());

  /** The answers recorded (runs moved on, jobs done), one transaction for all that arrived meanwhile. */
  private async flush() {
    if (this.flushing) return;
    this.flushing = true;
    try {
      while (this.pending.length) await grouped(this.pending.splice(0), (ctx, mine) => {
        const sent = mine.filter((p) => !p.refused).map((p) => p.handoff);
        const refused = mine.flatMap((p) => (p.refused ? [{ handoff: p.handoff, error: p.refused.error }] : []));
        return untilRecorded(() => recordAnswers(ctx, sent, refused, { marked: true }));
      });
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

  private release(heldSince: number) {
    this.holdMs += (performance.now() - heldSince - this.holdMs) / 20;
    const next = this.waiting.shift();
    if (next) next();
    else this.free += 1;
  }

  private roomMade() {
    for (const wake of this.room.splice(0)) wake();
  }
}
