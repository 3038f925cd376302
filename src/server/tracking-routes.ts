// Tracking and delivery feedback over HTTP, on the same server as the API:
//   (links name their workspace: /t/<kind>/<workspace>/<message>/<signature>; older
//   links without it still work for the message they were signed for)
//   GET  /t/o/<message>/<signature>.gif      open pixel (1×1 GIF)
//   GET  /t/c/<message>/<signature>?u=<url>  click: recorded, then 302 to the signed URL only,
//                                            and only for a message of the link's workspace
//                                            (a preview's links answer with a page, no redirect)
//   GET  /t/u/<message>/<signature>          unsubscribe page with a confirm button
//   POST /t/u/<message>/<signature>          unsubscribe (the button, and RFC 8058 one-click)
//   POST /webhooks/delivery                  bounces, complaints, deliveries, replies (API key)
// A link whose signature does not match is refused with 404 and nothing is recorded.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { bearerKey, type ApiKeyOwner } from '../auth/api-keys.js';
import { FeedbackShapeError, parseFeedback } from '../domain/delivery-feedback.js';
import { escapeHtml } from '../domain/escape-html.js';
import { PREVIEW_MESSAGE_ID, TRACKING_PREFIX, verifyTrackingPath } from '../domain/tracking-links.js';
import type { Logger } from '../logger.js';
import { forWorkspace, type Runtime } from '../runtime.js';
import { recordFeedback, recordUnsubscribe, trackedMessageExists, type FeedbackOutcome } from '../services/tracking.js';
import { linkFact, type TrackingRecorder } from '../services/tracking-recorder.js';

/** Pages here run no script, load nothing but inline styles, and post only to themselves. */
export const PAGE_CSP =
  "default-src 'none'; style-src 'unsafe-inline'; img-src 'none'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

export const WEBHOOK_PATH = '/webhooks/delivery';

/** The smallest transparent GIF. */
const PIXEL = Buffer.from('R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7', 'base64');
const MAX_FORM_BYTES = 4 * 1024;
const MAX_WEBHOOK_BYTES = 1024 * 1024;

export function isTrackingRequest(url: string | undefined): boolean {
  return !!url && (url.startsWith(TRACKING_PREFIX) || url === WEBHOOK_PATH || url.startsWith(`${WEBHOOK_PATH}?`));
}

export function handleTrackingRequest(
  req: IncomingMessage,
  res: ServerResponse,
  options: { runtime: Runtime; resolveKey: (key: string) => Promise<ApiKeyOwner | null>; logger: Logger; recorder: TrackingRecorder },
): void {
  const route = req.url!.startsWith(WEBHOOK_PATH) ? serveWebhook(req, res, options.runtime, options.resolveKey) : serveLink(req, res, options.runtime, options.recorder);
  route.catch((error: unknown) => {
    options.logger.error({ err: error }, 'tracking request failed');
    if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' }).end('Something went wrong');
    else res.end();
  });
}

function page(res: ServerResponse, status: number, title: string, body: string) {
  res
    .writeHead(status, {
      'content-type': 'text/html; charset=utf-8',
      'cache-control': 'no-store',
      'referrer-policy': 'no-referrer',
      'content-security-policy': PAGE_CSP,
      'x-content-type-options': 'nosniff',
    })
    .end(
      `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>${escapeHtml(title)}</title></head>` +
        `<body style="font-family:Helvetica,Arial,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem;color:#1f2937"><h1 style="font-size:1.4rem">${escapeHtml(title)}</h1>${body}</body></html>`,
    );
}

async function readBody(req: IncomingMessage, limit: number): Promise<string | null> {
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) return null;
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

async function serveLink(req: IncomingMessage, res: ServerResponse, runtime: Runtime, recorder: TrackingRecorder): Promise<void> {
  const { key } = await runtime.tracking.keys();
  const target = verifyTrackingPath(key, req.url!);
  if (!target) {
    res.writeHead(404, { 'content-type': 'text/plain', 'cache-control': 'no-store' }).end('This link is not valid.');
    return;
  }
  const method = req.method ?? 'GET';
  const allowed = target.kind === 'unsubscribe' ? ['GET', 'HEAD', 'POST'] : ['GET', 'HEAD'];
  if (!allowed.includes(method)) {
    res.writeHead(405, { allow: allowed.join(', '), 'content-type': 'text/plain' }).end('Method not allowed');
    return;
  }
  const userAgent = req.headers['user-agent'] ?? null;
  // Recorded on the link's workspace's clock (older links without a workspace: the runtime's).
  // Only the clock: opens and clicks need no per-workspace runtime object.
  const clock = target.workspaceId ? await runtime.clockFor(target.workspaceId) : runtime.clock;
  if (target.kind === 'open') {
    if (method === 'GET') {
      // Answered at once; the open is written with the next flush (src/services/tracking-recorder.ts),
      // unless the buffer is full: then the pixel waits for it.
      const written = recorder.record(linkFact(target.kind, target, userAgent, clock.now())).catch(() => false);
      if (recorder.backlogged) await written;
    }
    res
      .writeHead(200, { 'content-type': 'image/gif', 'content-length': PIXEL.length, 'cache-control': 'no-store, max-age=0' })
      .end(method === 'HEAD' ? undefined : PIXEL);
    return;
  }
  if (target.kind === 'click') {
    // Only a real message of the link's workspace redirects: a preview's links (and a
    // link signed for another workspace) can never be used as an open redirect. A click
    // is answered once written, which tells whether its message exists.
    const preview = target.messageId === PREVIEW_MESSAGE_ID;
    const exists = preview ? false : method === 'GET' ? await recorder.record(linkFact(target.kind, target, userAgent, clock.now())) : await trackedMessageExists(runtime.db, target);
    if (exists) {
      res.writeHead(302, { location: target.url!, 'cache-control': 'no-store', 'referrer-policy': 'no-referrer' }).end();
    } else if (preview) {
      page(res, 200, 'Preview link', `<p>This link comes from a preview and leads nowhere. In a sent email it leads to:</p><p><code>${escapeHtml(target.url!)}</code></p>`);
    } else {
      res.writeHead(404, { 'content-type': 'text/plain', 'cache-control': 'no-store' }).end('This link is not valid.');
    }
    return;
  }
  if (method !== 'POST') {
    // A GET only asks: mail scanners open links, and must not unsubscribe anyone.
    page(
      res,
      200,
      'Unsubscribe',
      `<p>Stop receiving these emails?</p><form method="post" action="${escapeHtml(req.url!)}"><input type="hidden" name="confirm" value="yes"><button type="submit" style="font-size:1rem;padding:.6rem 1.2rem">Unsubscribe</button></form>`,
    );
    return;
  }
  // The confirm button's form, or RFC 8058's `List-Unsubscribe=One-Click`: either does it.
  if ((await readBody(req, MAX_FORM_BYTES)) === null) {
    res.writeHead(413, { 'content-type': 'text/plain' }).end('Request body too large');
    return;
  }
  const recorded = await recordUnsubscribe({ ...runtime, clock }, target, { userAgent });
  page(
    res,
    200,
    recorded ? 'You are unsubscribed' : 'Preview link',
    recorded ? '<p>You will not receive these emails any more.</p>' : '<p>This link comes from a preview; nobody was unsubscribed.</p>',
  );
}

/** The API key from `Authorization: Bearer <key>`, or Basic auth with the key as password (SNS endpoints). */
function webhookKey(header: string | undefined): string | null {
  const bearer = bearerKey(header);
  if (bearer) return bearer;
  const basic = /^Basic\s+([A-Za-z0-9+/=]+)$/i.exec(header ?? '');
  if (!basic) return null;
  const decoded = Buffer.from(basic[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon >= 0 ? decoded.slice(colon + 1) || null : null;
}

function json(res: ServerResponse, status: number, body: unknown) {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

async function serveWebhook(req: IncomingMessage, res: ServerResponse, runtime: Runtime, resolveKey: (key: string) => Promise<ApiKeyOwner | null>) {
  if (req.method !== 'POST') {
    res.writeHead(405, { allow: 'POST', 'content-type': 'text/plain' }).end('Method not allowed');
    return;
  }
  const key = webhookKey(req.headers.authorization);
  const owner = key ? await resolveKey(key) : null;
  if (!owner) {
    res.writeHead(401, { 'content-type': 'application/json', 'www-authenticate': 'Bearer, Basic realm="stepwise"' });
    res.end(JSON.stringify({ error: 'Send the header Authorization: Bearer <API key>' }));
    return;
  }
  const raw = await readBody(req, MAX_WEBHOOK_BYTES);
  if (raw === null) return json(res, 413, { error: 'Request body too large (1 MB at most)' });
  let body: unknown;
  try {
    body = JSON.parse(raw);
  } catch {
    return json(res, 400, { error: 'The body is not JSON' });
  }
  let parsed;
  try {
    parsed = parseFeedback(body);
  } catch (error) {
    if (error instanceof FeedbackShapeError) return json(res, 400, { error: error.message });
    throw error;
  }
  const results: { messageId: string; type: string; outcome: FeedbackOutcome }[] = [];
  const caller = { ...owner, runtime: await forWorkspace(runtime, owner.workspaceId) };
  for (const event of parsed.events) {
    results.push({ messageId: event.messageRef, type: event.type, outcome: await recordFeedback(caller, event) });
  }
  json(res, 200, { results, ...(parsed.subscribeUrl ? { subscribeUrl: parsed.subscribeUrl, note: 'Visit subscribeUrl to confirm the SNS subscription.' } : {}) });
}
