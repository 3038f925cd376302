// NOTIFY after commit, from one connection of the process's own, in batches.
//
// Why not NOTIFY inside the writing transaction: Postgres serialises the commits of
// every transaction that has NOTIFYed with one database-wide lock, taken before the
// commit and held through its WAL flush (queue entries must appear in commit order).
// With the change log, stats and step jobs all announced that way, almost every
// write committed one at a time, each waiting for the previous one's flush: under
// the load test that lock was what backends waited for most. Here the writers
// commit without it (their flushes group), and the notifications follow in one
// small transaction per batch whose commit does not wait for a flush (nothing in
// it needs to survive a crash: listeners re-read after any reconnection).
//
// A notification is sent only after its transaction committed, as before. If the
// process dies in between it is lost: every listener also polls (change feeds
// every 2 s, step loops every 250 ms), as it must for a missed NOTIFY anyway.
import pg from 'pg';
import { mergePayloads, payloadTopic } from '../domain/change-notification.js';

/** The notifier's connections' name, as pg_stat_activity shows them. */
const NOTIFIER_APPLICATION = 'stepwise-notify';

export interface Notifier {
  /**
   * Queues a NOTIFY, sent as soon as the connection is free (with whatever else was
   * queued meanwhile); `deliverHere` false when it was delivered in this process already.
   */
  notify(channel: string, payload: string, deliverHere?: boolean): void;
  /**
   * Also hands this process's own notifications on `channel` to `listener`, as they
   * are queued: the process's listeners need not wait for the round trip through
   * Postgres. Their echoes carry `backendPid`.
   */
  deliverLocally(channel: string, listener: (payload: string) => void): void;
  /** The backend pid of the connection notifications go out on (their echoes' processId), or null while none is open. */
  readonly backendPid: number | null;
  /** Resolves when everything queued so far has been sent (or given up on). */
  flushed(): Promise<void>;
  end(): Promise<void>;
}

/** One notification as a key: a commit read's delivered ones are told apart by it. */
export const notificationKey = (channel: string, payload: string) => `${channel}\u0000${payload}`;

const SEND = 'SELECT count(pg_notify(c, p)) FROM unnest($1::text[], $2::text[]) AS n(c, p)';

export function createNotifier(connectionString: string): Notifier {
  let queued = new Map<string, [string, string]>();
  const local = new Map<string, (payload: string) => void>();
  let client: Promise<pg.Client> | undefined;
  let backendPid: number | null = null;
  let sending: Promise<void> | undefined;
  let ended = false;

  const connect = () => {
    const next = new pg.Client({ connectionString, application_name: NOTIFIER_APPLICATION });
    // An error between batches (a restart, a dropped session) only means connecting again for the next.
    next.on('error', () => {
      if (client === opened) client = undefined;
      backendPid = null;
    });
    const opened = next
      .connect()
      .then(() => next.query('SET synchronous_commit = off'))
      .then(() => {
        backendPid = (next as pg.Client & { processID: number }).processID;
        return next;
      });
    return opened;
  };

  const send = async () => {
    while (queued.size && !ended) {
      const batch = [...queued.values()];
      queued = new Map();
      try {
        client ??= connect();
        const connection = await client;
        await connection.query({ text: SEND, values: [batch.map((n) => n[0]), batch.map((n) => n[1])], name: 'stepwise_notify' });
      } catch {
        // Lost: the listeners' polls find what it announced.
        const failed = client;
        client = undefined;
        backendPid = null;
        void failed?.then((c) => c.end()).catch(() => {});
      }
    }
  };

  const kick = () => {
    if (sending || ended) return;
    // From the next microtask: notifications queued in the same tick go in one batch.
    sending = Promise.resolve().then(send).finally(() => {
      sending = undefined;
      if (queued.size) kick();
    });
  };

  return {
    notify(channel, payload, deliverHere = true) {
      if (ended) return;
      // Queued ones of one topic go as one (domain/change-notification.ts: their subscribers merged).
      const key = notificationKey(channel, payloadTopic(payload));
      const earlier = queued.get(key);
      queued.set(key, [channel, earlier ? mergePayloads(earlier[1], payload) : payload]);
      kick();
      if (deliverHere) local.get(channel)?.(payload);
    },
    deliverLocally(channel, listener) {
      local.set(channel, listener);
    },
    get backendPid() {
      return backendPid;
    },
    async flushed() {
      while (sending) await sending;
    },
    async end() {
      await this.flushed();
      ended = true;
      const last = client;
      client = undefined;
      await last?.then((c) => c.end()).catch(() => {});
    },
  };
}
