// GET /preview/:stepId[?email=...]: a step rendered as a page for a browser, as
// the given subscriber (or a sample one) would receive it. Same auth as the API.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { bearerKey, type ApiKeyOwner } from '../auth/api-keys.js';
import { encodeId, tryDecodeId } from '../domain/public-id.js';
import { previewSequence } from '../services/preview.js';
import { asUserErrors } from '../services/user-input.js';
import { forWorkspace, type Runtime } from '../runtime.js';

/**
 * The preview is the email as it would be sent, so it may show remote images and use
 * inline styles; nothing else runs or loads: no script, no plugin, no form, no
 * <base>, no framing; `sandbox` makes the page an opaque origin on top of that.
 */
export const PREVIEW_CSP =
  "default-src 'none'; img-src http: https: data: cid:; style-src 'unsafe-inline'; font-src http: https: data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'; sandbox";

export const PREVIEW_PATH = /^\/preview\/([a-z]{3}_[0-9a-f]{32})(?:\?.*)?$/;

export async function servePreview(
  req: IncomingMessage,
  res: ServerResponse,
  runtime: Runtime,
  resolveKey: (key: string) => Promise<ApiKeyOwner | null>,
): Promise<void> {
  const key = bearerKey(req.headers.authorization);
  const owner = key ? await resolveKey(key) : null;
  if (!owner) {
    res.writeHead(401, { 'content-type': 'text/plain' }).end('Send the header Authorization: Bearer <key>');
    return;
  }
  const url = new URL(req.url ?? '/', 'http://localhost');
  const stepId = tryDecodeId('Step', url.pathname.split('/')[2] ?? '');
  const step = stepId
    ? await runtime.db.step.findFirst({ where: { id: stepId, sequence: { workspaceId: owner.workspaceId } }, select: { id: true, sequenceId: true } })
    : null;
  if (!step) {
    res.writeHead(404, { 'content-type': 'text/plain' }).end('No such step');
    return;
  }
  try {
    const email = url.searchParams.get('email');
    const steps = await previewSequence({ ...owner, runtime: await forWorkspace(runtime, owner.workspaceId) }, { sequenceId: encodeId('Sequence', step.sequenceId), ...(email ? { email } : {}) });
    const html = steps.find((s) => s.step.id === step.id)?.html;
    if (html == null) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('This step sends no email (a retired or discount step)');
      return;
    }
    res
      .writeHead(200, {
        'content-type': 'text/html; charset=utf-8',
        'cache-control': 'no-store',
        'content-security-policy': PREVIEW_CSP,
        'x-content-type-options': 'nosniff',
        'referrer-policy': 'no-referrer',
      })
      .end(html);
  } catch (error) {
    const errors = asUserErrors(error);
    if (!errors) throw error;
    res.writeHead(400, { 'content-type': 'text/plain' }).end(errors.map((e) => e.message).join('\n'));
  }
}
