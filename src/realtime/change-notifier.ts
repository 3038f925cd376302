// One LISTEN connection per process for the change log's NOTIFY: it wakes the
// subscription feeds of a workspace, which then re-read the log. Reconnects with
// backoff and jitter; after a reconnect every feed re-reads (a NOTIFY may have
// been missed), and feeds also poll, so NOTIFY is never the only guarantee.
//
// This process's own changes wake its feeds as they commit (the client's
// notifier hands them over before sending them), not a round trip through
// Postgres later; their echoes are then passed over, unless the workspace's
// last read found changes held (see `noteHeld`).
//
// A notification's payload names its topic (what listeners wait on) and, when the
// writer knew them, the subscribers whose runs changed (domain/change-notification.ts):
// waiters get that list, and a workspace's tail reads the log only when a feed it
// holds may care (change-feed.ts).
import pg from 'pg';
import type { Notifier } from '../db/notifier.js';
import { parseChangePayload } from '../domain/change-notification.js';
import { CHANGES_CHANNEL } from '../engine/run-status.js';

/** Woken with the subscribers the notification names, or null: anything may have changed. */
type Waiter = (subscribers: readonly string[] | null) => void;

export class ChangeNotifier {
  private waiters = new Map<string, Set<Waiter>>();
  private client: pg.Client | undefined;
  private stopped = false;
  private attempt = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly connectionString: string,
    private readonly onError: (error: unknown) => void = () => {},
    /** This process's sender of notifications, whose changes are delivered here directly. */
    private readonly local?: Notifier,
  ) {}

  async start(): Promise<void> {
    this.local?.deliverLocally(CHANGES_CHANNEL, (payload) => this.notified(payload));
    await this.connect();
  }

  private async connect(): Promise<void> {
    const client = new pg.Client({ connectionString: this.connectionString });
    client.on('notification', (message) => {
      if (!message.payload) return;
      // An echo of a change already delivered here at its commit. Unless a read
      // found changes held since: a change whose key waits for a newer
      // transaction to complete is readable once this NOTIFY's transaction has.
      const echo = this.local !== undefined && message.processId === this.local.backendPid;
      this.notified(message.payload, echo);
    });
    client.on('error', (error) => {
      this.onError(error);
      this.reconnect(client);
    });
    client.on('end', () => this.reconnect(client));
    try {
      await client.connect();
      await client.query(`LISTEN ${CHANGES_CHANNEL}`);
      this.client = client;
      this.attempt = 0;
      this.wakeAll();
    } catch (error) {
      this.onError(error);
      this.reconnect(client);
    }
  }

  private reconnect(client: pg.Client) {
    if (this.stopped || this.timer || (this.client && this.client !== client)) return;
    this.client = undefined;
    client.end().catch(() => {});
    // Exponential backoff with full jitter, at most 10 s.
    const delay = Math.random() * Math.min(10_000, 200 * 2 ** this.attempt++);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.connect();
    }, delay);
  }

  private notified(payload: string, echo = false) {
    const { topic, subscribers } = parseChangePayload(payload);
    if (echo && !held.has(topic)) return;
    this.wake(topic, subscribers);
  }

  wake(topic: string, subscribers: readonly string[] | null = null) {
    bumpChangeVersion(topic);
    const set = this.waiters.get(topic);
    if (!set) return;
    this.waiters.delete(topic);
    for (const waiter of set) waiter(subscribers);
  }

  private wakeAll() {
    for (const workspaceId of [...this.waiters.keys()]) this.wake(workspaceId);
  }

  /**
   * Resolves at the next change of the workspace with the subscribers its notification
   * names ([]: stats only), or with null: the notification did not say (a bare topic),
   * `timeoutMs` passed, or the signal aborted.
   */
  wait(workspaceId: string, timeoutMs: number, signal?: AbortSignal): Promise<readonly string[] | null> {
    return new Promise((resolve) => {
      let set = this.waiters.get(workspaceId);
      if (!set) this.waiters.set(workspaceId, (set = new Set()));
      const done = (subscribers: readonly string[] | null = null) => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', aborted);
        this.waiters.get(workspaceId)?.delete(done);
        resolve(subscribers);
      };
      const aborted = () => done();
      const timer = setTimeout(aborted, timeoutMs);
      signal?.addEventListener('abort', aborted, { once: true });
      set.add(done);
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    this.wakeAll();
    await this.client?.end().catch(() => {});
    this.client = undefined;
  }
}

let current: ChangeNotifier | undefined;

/** Workspaces whose last read found committed changes held back (change-feed.ts). */
const held = new Set<string>();

/** Records whether a read of the workspace's log found changes held back: while so, echoes of this process's own notifications wake its readers too. */
export function noteHeld(workspaceId: string, isHeld: boolean) {
  if (isHeld) held.add(workspaceId);
  else held.delete(workspaceId);
}

/**
 * How many times this process was told about changes of a workspace (NOTIFY, or a
 * poll that found the wait over). A read that starts after version v has seen
 * every change announced up to v.
 */
const versions = new Map<string, number>();

export function changeVersion(workspaceId: string): number {
  return versions.get(workspaceId) ?? 0;
}

export function bumpChangeVersion(workspaceId: string): number {
  const next = changeVersion(workspaceId) + 1;
  versions.set(workspaceId, next);
  return next;
}

export async function startChangeNotifier(connectionString: string, onError?: (error: unknown) => void, local?: Notifier) {
  const notifier = new ChangeNotifier(connectionString, onError, local);
  await notifier.start();
  current = notifier;
  return notifier;
}

export async function stopChangeNotifier() {
  const notifier = current;
  current = undefined;
  await notifier?.stop();
}

/** Wakes this process's readers of a workspace as a NOTIFY would (a feed re-reading changes held behind an open transaction). */
export function announceChange(workspaceId: string) {
  if (current) current.wake(workspaceId);
  else bumpChangeVersion(workspaceId);
}

/** Waits for a change of the workspace (or just `timeoutMs` when no notifier runs in this process); see ChangeNotifier.wait. */
export function waitForChange(workspaceId: string, timeoutMs: number, signal?: AbortSignal): Promise<readonly string[] | null> {
  if (current) return current.wait(workspaceId, timeoutMs, signal);
  return new Promise((resolve) => setTimeout(() => resolve(null), timeoutMs));
}
