// Signed tracking links: the open pixel, click redirects and the unsubscribe link
// of one message. Each carries an HMAC over what it does (kind, workspace, message
// and, for clicks, the destination), so a link can be neither forged nor pointed
// elsewhere: the click redirect only ever sends the reader to the URL that was
// signed, and only for a message that exists in the workspace the link names (so a
// preview's links, signed for a message that does not exist, never redirect).
import { createHmac, randomFillSync, timingSafeEqual } from 'node:crypto';

export type TrackingKind = 'open' | 'click' | 'unsubscribe';

const KIND_CODE: Record<TrackingKind, string> = { open: 'o', click: 'c', unsubscribe: 'u' };
const CODE_KIND: Record<string, TrackingKind> = { o: 'open', c: 'click', u: 'unsubscribe' };

/** Where the links point, and the key that signs them. */
export interface TrackingKeys {
  /** PUBLIC_URL, without a trailing slash. */
  baseUrl: string;
  key: Buffer;
}

/** Stands in for the message id in previews: the links are well formed, and record nothing. */
export const PREVIEW_MESSAGE_ID = '00000000-0000-7000-8000-000000000000';

/** Every tracking path starts with this. */
export const TRACKING_PREFIX = '/t/';

/** The link key from STEPWISE_SECRET: a derived key, so the secret itself signs nothing. */
export function deriveTrackingKey(secret: string): Buffer {
  return createHmac('sha256', secret).update('stepwise:tracking-links:v1').digest();
}

/** 128 bits of HMAC-SHA256, base64url. `workspace` is null only for links made before links named their workspace. */
function sign(key: Buffer, kind: TrackingKind, workspace: string | null, messageId: string, url = ''): string {
  const payload = workspace === null ? `${kind}\n${messageId}\n${url}` : `v2\n${kind}\n${workspace}\n${messageId}\n${url}`;
  return createHmac('sha256', key).update(payload).digest().subarray(0, 16).toString('base64url');
}

const compactId = (uuid: string) => uuid.replaceAll('-', '').toLowerCase();
const expandId = (hex: string) => `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;

export interface TrackingTarget {
  kind: TrackingKind;
  /** The workspace the link was signed for (absent on links made before links named it). */
  workspaceId?: string;
  messageId: string;
  /** The destination of a click. */
  url?: string;
}

/** `/t/<kind>/<workspace>/<message>/<signature>` (`.gif` for opens, `?u=<url>` for clicks). */
export function trackingUrl(keys: TrackingKeys, link: TrackingTarget & { workspaceId: string }): string {
  const { kind, url } = link;
  const workspace = compactId(link.workspaceId);
  const id = compactId(link.messageId);
  const signature = sign(keys.key, kind, workspace, id, url);
  const path = `${keys.baseUrl}${TRACKING_PREFIX}${KIND_CODE[kind]}/${workspace}/${id}/${signature}`;
  if (kind === 'open') return `${path}.gif`;
  if (kind === 'click') return `${path}?u=${encodeURIComponent(url ?? '')}`;
  return path;
}

const PATH = /^\/t\/([ocu])\/(?:([0-9a-f]{32})\/)?([0-9a-f]{32})\/([A-Za-z0-9_-]{22})(\.gif)?$/;

/**
 * Reads a tracking request's path and query; null unless it is a well-formed link
 * whose signature matches (compared in constant time). Whether the message exists
 * in the link's workspace is for the caller to check.
 */
export function verifyTrackingPath(key: Buffer, pathAndQuery: string): TrackingTarget | null {
  let parsed: URL;
  try {
    parsed = new URL(pathAndQuery, 'http://tracking.invalid');
  } catch {
    return null;
  }
  const match = PATH.exec(parsed.pathname);
  if (!match) return null;
  const [, code, workspace, id, signature, gif] = match as unknown as [string, string, string | undefined, string, string, string | undefined];
  const kind = CODE_KIND[code]!;
  if ((kind === 'open') !== (gif !== undefined)) return null;
  const url = kind === 'click' ? parsed.searchParams.get('u') : undefined;
  if (kind === 'click' && (!url || !/^https?:\/\//i.test(url))) return null;
  const expected = Buffer.from(sign(key, kind, workspace ?? null, id, url ?? undefined));
  const given = Buffer.from(signature);
  if (expected.length !== given.length || !timingSafeEqual(expected, given)) return null;
  return { kind, ...(workspace ? { workspaceId: expandId(workspace) } : {}), messageId: expandId(id), ...(url ? { url } : {}) };
}

/** Which links are rewritten to click redirects: absolute http(s) URLs. */
export function isTrackableUrl(url: string): boolean {
  return /^https?:\/\/[^\s]+$/i.test(url.trim());
}

// ---------------------------------------------------------------------------
// Message status: QUEUED → SENT → DELIVERED → OPENED → CLICKED, or BOUNCED.
// A status only moves forward; FAILED (never handed over) stays.

export type MessageStatus = 'QUEUED' | 'SENT' | 'DELIVERED' | 'OPENED' | 'CLICKED' | 'BOUNCED' | 'FAILED';

const RANK: Record<MessageStatus, number> = { QUEUED: 0, SENT: 1, DELIVERED: 2, OPENED: 3, CLICKED: 4, BOUNCED: 5, FAILED: 6 };

export function advanceMessageStatus(current: MessageStatus, next: MessageStatus): MessageStatus {
  return RANK[next] > RANK[current] ? next : current;
}

/** The statuses a message may move on from to `next` (for a guarded UPDATE). */
export function statusesBefore(next: MessageStatus): MessageStatus[] {
  return (Object.keys(RANK) as MessageStatus[]).filter((s) => RANK[s] < RANK[next]);
}

/** Random bytes drawn in blocks (one call for 256 ids): a draw per id cost more than the rest of making it. */
const pool = Buffer.alloc(10 * 256);
let poolAt = pool.length;

/**
 * A UUIDv7 (RFC 9562: 48-bit Unix milliseconds, version, 74 random bits), the same
 * kind of id the database gives rows; lets a message's links be made before its row.
 */
export function uuidv7(ms: number, random?: Buffer): string {
  let hex: string;
  if (random) hex = random.toString('hex', 0, 10);
  else {
    if (poolAt + 10 > pool.length) {
      randomFillSync(pool);
      poolAt = 0;
    }
    hex = pool.toString('hex', poolAt, (poolAt += 10));
  }
  const time = ms.toString(16).padStart(12, '0');
  if (time.length !== 12 || !Number.isSafeInteger(ms) || ms < 0) throw new RangeError(`uuidv7: ${ms} is not a 48-bit time`);
  // Version 7 in the 13th digit, the variant (10xx) in the 17th.
  const variant = (8 | (parseInt(hex[4]!, 16) & 3)).toString(16);
  return `${time.slice(0, 8)}-${time.slice(8)}-7${hex.slice(1, 4)}-${variant}${hex.slice(5, 8)}-${hex.slice(8)}`;
}

/** `count` UUIDv7s of one instant, ascending (rows created in this order), from the pooled randomness (a trackEvent makes three sets of one). */
export function uuidv7s(count: number, ms: number = Date.now()): string[] {
  return Array.from({ length: count }, () => uuidv7(ms)).sort();
}
