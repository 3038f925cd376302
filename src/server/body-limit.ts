// Request bodies larger than MAX_BODY_BYTES are refused with 413 before anything
// reads them. The size is taken from Content-Length; a POST without one
// (chunked) is refused with 411, so no body is ever read unbounded.
import type { IncomingMessage, ServerResponse } from 'node:http';

/** True when the request was refused (the response is sent). */
export function refuseOversizedBody(req: IncomingMessage, res: ServerResponse, maxBytes: number): boolean {
  const hasBody = req.method !== 'GET' && req.method !== 'HEAD' && req.method !== 'OPTIONS';
  if (!hasBody) return false;
  const header = req.headers['content-length'];
  if (header === undefined) {
    if (!req.headers['transfer-encoding']) return false;
    reply(res, 411, 'LENGTH_REQUIRED', 'Send the request body with a Content-Length header');
    return true;
  }
  const length = Number(header);
  if (!Number.isSafeInteger(length) || length < 0) {
    reply(res, 400, 'BAD_REQUEST', 'Invalid Content-Length');
    return true;
  }
  if (length <= maxBytes) return false;
  reply(res, 413, 'PAYLOAD_TOO_LARGE', `Request body too large: ${length} bytes, at most ${maxBytes} allowed`);
  return true;
}

function reply(res: ServerResponse, status: number, code: string, message: string) {
  res.writeHead(status, { 'content-type': 'application/json', connection: 'close' });
  res.end(JSON.stringify({ errors: [{ message, extensions: { code } }] }));
}
