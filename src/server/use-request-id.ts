// Every GraphQL request has an id: the caller's `x-request-id` when it is a sane
// token, otherwise a new UUID. It is echoed in the response header, put on every
// error's extensions (so a masked error can be found in the logs), and given to
// resolvers in the context.
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Plugin } from 'graphql-yoga';

const SANE_ID = /^[A-Za-z0-9._:-]{1,128}$/;
const ids = new WeakMap<Request, string>();

function pick(given: string | null | undefined): string {
  return given && SANE_ID.test(given) ? given : randomUUID();
}

/** For the raw Node request (before Yoga): settles the id in the headers and echoes it. */
export function assignRequestId(req: IncomingMessage, res: { setHeader(name: string, value: string): unknown }): string {
  const raw = req.headers['x-request-id'];
  const id = pick(Array.isArray(raw) ? raw[0] : raw);
  req.headers['x-request-id'] = id;
  res.setHeader('x-request-id', id);
  return id;
}

/** The id of a request seen by `useRequestId`, or a new one (WebSocket operations). */
export function requestIdOf(request: Request | undefined): string {
  return (request && ids.get(request)) ?? randomUUID();
}

function withRequestId(result: unknown, requestId: string): void {
  if (typeof result !== 'object' || result === null || Symbol.asyncIterator in result) return;
  if (Array.isArray(result)) {
    for (const r of result) withRequestId(r, requestId);
    return;
  }
  // The errors stay GraphQLError instances (Yoga strips their internal `http`
  // extension when serialising), so the id is added to their extensions in place.
  for (const error of (result as { errors?: { extensions?: Record<string, unknown> }[] }).errors ?? []) {
    if (error.extensions && Object.isExtensible(error.extensions)) error.extensions.requestId = requestId;
    else error.extensions = { ...error.extensions, requestId };
  }
}

export function useRequestId(): Plugin {
  return {
    onRequest({ request }) {
      ids.set(request, pick(request.headers.get('x-request-id')));
    },
    onResultProcess({ request, result }) {
      const id = ids.get(request);
      if (id) withRequestId(result, id);
    },
    onResponse({ request, response }) {
      const id = ids.get(request);
      if (id) response.headers.set('x-request-id', id);
    },
  };
}
