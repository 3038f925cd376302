// Opens and clicks at volume: the pixel is answered at once and its fact joins a
// buffer; a click waits for its fact to be written (the redirect needs to know the
// message exists in the link's workspace). The buffer is written by one statement
// per flush (group commit): while one flush runs, the next requests gather and are
// written as soon as it is done, so a busy server writes tens to hundreds of facts
// per statement and an idle one writes each at once (opens without a click among
// them within openGatherMs). A second flush may start beside the running one only
// for a click while that one holds no click (a click need not wait behind a batch
// of opens), for clicks that waited clickWaitMs (the database is slow: then
// overlapping beats batching), or for a full batch; otherwise clicks that come
// while clicks are being written wait for that statement and go together in the
// next: each statement costs a commit, a trigger run and a NOTIFY on the cores the
// server shares, and 16 clients clicking wrote about 5 clicks a statement with two
// flushes always free to start.
// Flushes answer in the order they began, so a click's answer also means every
// open before it is recorded.
//
// Nothing answered is lost on a graceful stop: `close()` (from the app's stop,
// after the HTTP drain) writes what is left. A failed flush keeps its facts and is
// retried with backoff. What a crash loses is only what was not written yet
// (milliseconds of pixels; clicks are answered only once written).
import { randomBytes } from 'node:crypto';
import { setImmediate, setTimeout as delay } from 'node:timers/promises';
import { dbQueryText } from '../db/transaction.js';
import { notifyStatsNow } from '../engine/run-status.js';
import { statusesBefore, uuidv7, type TrackingTarget } from '../domain/tracking-links.js';
import type { PrismaClient } from '../generated/prisma/client.js';

export interface LinkFact {
  kind: 'open' | 'click';
  messageId: string;
  /** The workspace the link was signed for (null on links made before links named it). */
  workspaceId: string | null;
  /** A click's destination. */
  url: string | null;
  userAgent: string | null;
  at: Date;
}

/**
 * The fact of a verified open or click link. User agents are kept to 500 characters;
 * NUL characters (which Postgres text refuses) are dropped, so no fact can make a
 * flush fail for ever and hold back the ones behind it.
 */
export function linkFact(kind: LinkFact['kind'], target: TrackingTarget, userAgent: string | null, at: Date): LinkFact {
  const text = (value: string | null | undefined) => (value ? value.replaceAll('\0', '') : null);
  return {
    kind,
    messageId: target.messageId,
    workspaceId: target.workspaceId ?? null,
    url: text(target.url),
    userAgent: text(userAgent?.slice(0, 500)),
    at,
  };
}

interface Entry {
  fact: LinkFact;
  /** Settled once the fact is written (or its write failed): whether the message exists in the link's workspace. */
  waiter?: { resolve: (found: boolean) => void; reject: (error: unknown) => void };
}

export interface TrackingRecorderOptions {
  /** Facts written by one statement at most. */
  maxBatch?: number;
  /** Above this many unwritten facts, opens wait for their write too (memory stays bounded). */
  maxBacklog?: number;
  /** Unwritten facts kept at most (the database is away): beyond, new ones are refused, not kept. */
  maxBuffered?: number;
  /** Flushes running at once at most (each waits its turn to answer); beyond the first, only as the header says. */
  concurrency?: number;
  /** A failed flush is retried after this, doubling up to 5 s. */
  retryMs?: number;
  /**
   * Opens alone (no click waiting) are written once the oldest has waited this long
   * (default 20 ms), so a busy server writes tens per statement instead of a few:
   * each statement is a commit and a NOTIFY, on the cores the server shares.
   */
  openGatherMs?: number;
  /**
   * Clicks wait for a running flush that holds clicks (and then go together) for
   * at most this long (default 5 ms, a few flushes' time on an idle machine) before
   * a flush of their own starts beside it.
   */
  clickWaitMs?: number;
  onError?: (error: unknown) => void;
}

/**
 * One statement: the facts of messages that exist (in the link's workspace) become
 * MessageEvents; each message keeps its first open and click times (the earliest,
 * even when a later fact was written first: two flushes may run at once, and a
 * failed one is retried) and moves its
 * status forward; the stats counters follow by trigger; stats subscribers of the
 * workspaces get one NOTIFY each, after it. Rows are locked in id order (no deadlock with a
 * flush of another process), and only those that change. The UPDATE joins the
 * locked rows alone, which carry what it sets: joined to two CTEs, whose sizes
 * Postgres cannot guess, it was planned as a nested loop over both, quadratic in
 * the batch (11 ms of a 200-fact statement's 25 ms).
 */
const RECORD_LINK_FACTS = `
  WITH e AS (
    SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::text[], $6::text[], $7::timestamptz[])
      WITH ORDINALITY AS e(id, message_id, workspace_id, type, url, user_agent, at, i)
  ), f AS (
    SELECT e.*, m."workspaceId" AS message_workspace
    FROM e JOIN "Message" m ON m.id = e.message_id AND (e.workspace_id IS NULL OR m."workspaceId" = e.workspace_id)
  ), first AS (
    SELECT message_id, min(at) AS opened_at, min(at) FILTER (WHERE type = 'CLICK') AS clicked_at FROM f GROUP BY message_id
  ), locked AS (
    SELECT m.id, first.opened_at, first.clicked_at FROM "Message" m JOIN first ON first.message_id = m.id
    WHERE m."openedAt" IS NULL OR first.opened_at < m."openedAt"
      OR (first.clicked_at IS NOT NULL AND (m."clickedAt" IS NULL OR first.clicked_at < m."clickedAt"))
      OR m.status::text = ANY(CASE WHEN first.clicked_at IS NULL THEN $8::text[] ELSE $9::text[] END)
    ORDER BY m.id FOR NO KEY UPDATE OF m
  ), updated AS (
    UPDATE "Message" m SET
      "openedAt" = LEAST(m."openedAt", l.opened_at),
      "clickedAt" = LEAST(m."clickedAt", l.clicked_at),
      status = CASE
        WHEN l.clicked_at IS NOT NULL AND m.status::text = ANY($9::text[]) THEN 'CLICKED'::"MessageStatus"
        WHEN m.status::text = ANY($8::text[]) THEN 'OPENED'::"MessageStatus"
        ELSE m.status END
    FROM locked l WHERE m.id = l.id
    RETURNING m.id
  ), inserted AS (
    INSERT INTO "MessageEvent" (id, "messageId", type, url, data, "createdAt")
    SELECT id, message_id, type::"MessageEventType", url,
      CASE WHEN user_agent IS NULL THEN NULL ELSE jsonb_build_object('userAgent', user_agent) END, at
    FROM f ORDER BY i
    RETURNING 1
  )
  SELECT COALESCE((SELECT array_agg(i::int - 1) FROM f), '{}') AS found,
    COALESCE((SELECT array_agg(DISTINCT message_workspace::text) FROM f), '{}') AS workspaces`;

export class TrackingBufferFull extends Error {
  constructor(buffered: number) {
    super(`${buffered} opens and clicks are waiting to be written; this one is not kept`);
    this.name = 'TrackingBufferFull';
  }
}

const OPEN_FROM = statusesBefore('OPENED');
const CLICK_FROM = statusesBefore('CLICKED');

export class TrackingRecorder {
  private pending: Entry[] = [];
  /** Flushes running; their waiters are answered in the order the flushes began. */
  private inFlight = 0;
  /** Flushes running that carry a click someone waits for. */
  private clicksInFlight = 0;
  /** Facts in the flushes running. */
  private writing = 0;
  private answered: Promise<void> = Promise.resolve();
  private kickScheduled = false;
  private retryTimer: NodeJS.Timeout | null = null;
  private gatherTimer: NodeJS.Timeout | null = null;
  /** When the buffer last went from empty to not (opens wait from there, up to openGatherMs). */
  private gatheringSince = 0;
  /** A click waits among the buffered facts: write now. */
  private urgent = false;
  /** Since when the oldest of them waits. */
  private urgentSince = 0;
  private clickTimer: NodeJS.Timeout | null = null;
  private failures = 0;
  private written = 0;
  private idle: (() => void)[] = [];
  private readonly maxBatch: number;
  private readonly maxBacklog: number;
  private readonly maxBuffered: number;
  private readonly concurrency: number;
  private readonly retryMs: number;
  private readonly openGatherMs: number;
  private readonly clickWaitMs: number;

  constructor(
    private readonly prisma: PrismaClient,
    private readonly options: TrackingRecorderOptions = {},
  ) {
    this.maxBatch = options.maxBatch ?? 1000;
    this.maxBacklog = options.maxBacklog ?? 20_000;
    this.maxBuffered = Math.max(options.maxBuffered ?? 100_000, this.maxBacklog);
    this.concurrency = options.concurrency ?? 2;
    this.retryMs = options.retryMs ?? 100;
    this.openGatherMs = options.openGatherMs ?? 20;
    this.clickWaitMs = options.clickWaitMs ?? 5;
  }

  /** Statements written so far. */
  get writes(): number {
    return this.written;
  }

  /** Facts taken in and not yet written: buffered, or in a write still running. */
  get unwritten(): number {
    return this.pending.length + this.writing;
  }

  /** Whether new facts should wait for their write (the buffer is full). */
  get backlogged(): boolean {
    return this.pending.length >= this.maxBacklog;
  }

  /** Queues a fact; resolves once it is written, with whether its message exists in the link's workspace. */
  record(fact: LinkFact): Promise<boolean> {
    // Only while writes keep failing (waiting pixels are answered at each failed try, their facts kept).
    if (this.pending.length >= this.maxBuffered) return Promise.reject(new TrackingBufferFull(this.pending.length));
    return new Promise<boolean>((resolve, reject) => {
      if (!this.pending.length) this.gatheringSince = performance.now();
      if (fact.kind === 'click' && !this.urgent) {
        this.urgent = true;
        this.urgentSince = performance.now();
      }
      this.pending.push({ fact, waiter: { resolve, reject } });
      this.scheduleKick();
    });
  }

  /** Resolves when every fact queued so far is written (tests, and stop). */
  settled(): Promise<void> {
    if (!this.pending.length && !this.inFlight) return Promise.resolve();
    return new Promise((resolve) => this.idle.push(resolve));
  }

  /**
   * Writes everything still buffered, retrying on failure, for at most `timeoutMs`
   * (keeping the process alive meanwhile); returns how many facts could not be
   * written (logged by the caller).
   */
  async close(timeoutMs = 30_000): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    while ((this.pending.length || this.inFlight) && Date.now() < deadline) {
      this.kick(true);
      await Promise.race([this.settled(), delay(Math.max(0, Math.min(deadline - Date.now(), 50)))]);
    }
    return this.pending.length;
  }

  /** Kicks after the current tick, so the requests of one tick share a flush. */
  private scheduleKick() {
    if (this.kickScheduled) return;
    this.kickScheduled = true;
    void setImmediate().then(() => {
      this.kickScheduled = false;
      this.kick();
    });
  }

  /**
   * Starts flushes while there are facts and a free slot (none while a retry waits):
   * beside a running flush only for clicks (see besideRunning) or a full batch
   * (group commit); opens alone wait to gather for up to openGatherMs. `now`
   * (stop): every slot, no gathering.
   */
  private kick(now = false) {
    while (this.pending.length && this.inFlight < this.concurrency && !this.retryTimer) {
      if (this.inFlight && !now && this.pending.length < this.maxBatch && !this.besideRunning()) return;
      const waited = performance.now() - this.gatheringSince;
      if (!now && !this.urgent && waited < this.openGatherMs && this.pending.length < this.maxBatch) {
        this.gatherTimer ??= setTimeout(() => {
          this.gatherTimer = null;
          this.kick();
        }, this.openGatherMs - waited);
        return;
      }
      this.flush(this.pending.splice(0, this.maxBatch));
      if (!this.pending.length) this.urgent = false;
    }
  }

  /**
   * Whether waiting clicks may be written beside the running flush: it holds no
   * click, or they have waited clickWaitMs (until then, a kick is set for that time).
   */
  private besideRunning(): boolean {
    if (!this.urgent) return false;
    if (!this.clicksInFlight) return true;
    const waited = performance.now() - this.urgentSince;
    if (waited >= this.clickWaitMs) return true;
    this.clickTimer ??= setTimeout(() => {
      this.clickTimer = null;
      this.kick();
    }, this.clickWaitMs - waited);
    this.clickTimer.unref();
    return false;
  }

  private flush(batch: Entry[]) {
    const clicks = batch.some((e) => e.waiter && e.fact.kind === 'click');
    this.inFlight++;
    if (clicks) this.clicksInFlight++;
    this.writing += batch.length;
    const earlier = this.answered;
    const outcome = this.write(batch.map((e) => e.fact)).then(
      (found) => ({ found }),
      (error: unknown) => ({ error }),
    );
    // A click is answered only once every flush begun before its own is done, so its
    // answer also means the opens before it are written (unless their write failed).
    this.answered = outcome.then(async (result) => {
      await earlier;
      if ('found' in result) {
        this.failures = 0;
        batch.forEach((entry, i) => entry.waiter?.resolve(result.found.has(i)));
      } else {
        // The facts stay (first in line); whoever waited gets the error now.
        for (const entry of batch) entry.waiter?.reject(result.error);
        this.pending.unshift(...batch.map((e) => ({ fact: e.fact })));
        this.failures++;
        this.options.onError?.(result.error);
        this.retryTimer ??= setTimeout(
          () => {
            this.retryTimer = null;
            this.kick();
          },
          Math.min(this.retryMs * 2 ** (this.failures - 1), 5000),
        );
        this.retryTimer.unref();
      }
      this.inFlight--;
      if (clicks) this.clicksInFlight--;
      this.writing -= batch.length;
      this.kick();
      if (!this.pending.length && !this.inFlight) for (const resolve of this.idle.splice(0)) resolve();
    });
  }

  private async write(facts: LinkFact[]): Promise<Set<number>> {
    const random = randomBytes(10 * facts.length);
    const params = [
      facts.map((f, i) => uuidv7(f.at.getTime(), random.subarray(10 * i, 10 * i + 10))),
      facts.map((f) => f.messageId),
      facts.map((f) => f.workspaceId),
      facts.map((f) => (f.kind === 'click' ? 'CLICK' : 'OPEN')),
      facts.map((f) => f.url),
      facts.map((f) => f.userAgent),
      facts.map((f) => f.at),
      OPEN_FROM,
      CLICK_FROM,
    ];
    // Around Prisma (its work per query costs more than the statement here), prepared:
    // each connection parses the statement once, not at every flush.
    const rows = await dbQueryText<{ found: number[]; workspaces: string[] }>(this.prisma, RECORD_LINK_FACTS, params, { prepared: true });
    this.written++;
    notifyStatsNow(this.prisma, rows[0]!.workspaces);
    return new Set(rows[0]!.found);
  }
}
