// What a change notification (one NOTIFY on the changes channel) says. Its topic
// is what listeners wait on: a workspace id (run changes and stats) or another
// topic (a test clock's). After a `|`, the subscribers whose runs changed, so that
// a process whose live feeds follow none of them need not read the log: with 500
// feeds in each of two API processes, every change was read by both, and every
// send's stats notification made both read it too. Without a `|` (an older
// process, a bulk write of unknown runs) anything may have changed.

/** Subscribers named in one notification at most; a writer that changed more sends the bare topic. */
export const MAX_NOTIFIED_SUBSCRIBERS = 50;

export interface ChangeNotification {
  topic: string;
  /** The subscribers whose runs changed ([]: none, only stats), or null: anything may have changed. */
  subscribers: readonly string[] | null;
}

/** The payload announcing run changes of these subscribers in the workspace (none: stats only). */
export function changePayload(workspaceId: string, subscribers: Iterable<string>): string {
  const distinct = [...new Set(subscribers)];
  if (distinct.length > MAX_NOTIFIED_SUBSCRIBERS) return workspaceId;
  return `${workspaceId}|${distinct.join(',')}`;
}

export function parseChangePayload(payload: string): ChangeNotification {
  const bar = payload.indexOf('|');
  if (bar < 0) return { topic: payload, subscribers: null };
  const list = payload.slice(bar + 1);
  return { topic: payload.slice(0, bar), subscribers: list ? list.split(',') : [] };
}

/** The topic a payload announces (the whole payload when it names no subscribers). */
export function payloadTopic(payload: string): string {
  const bar = payload.indexOf('|');
  return bar < 0 ? payload : payload.slice(0, bar);
}

/**
 * One payload saying what two of the same topic say: the subscribers of both
 * (the bare topic when either is, or when they are too many). A notifier sends
 * one NOTIFY per topic however many writers announced it meanwhile.
 */
export function mergePayloads(a: string, b: string): string {
  if (a === b) return a;
  const x = parseChangePayload(a);
  const y = parseChangePayload(b);
  if (!x.subscribers || !y.subscribers) return x.topic;
  return changePayload(x.topic, [...x.subscribers, ...y.subscribers]);
}
