// The HTTP server: GraphQL over HTTP and SSE (Yoga), GraphQL over WebSocket
// (graphql-ws) on the same port and path, and a health route.
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { GraphQLError } from 'graphql';
import { createGraphQLError, createYoga, maskError } from 'graphql-yoga';
import type { Context as WsContext, SubscribePayload } from 'graphql-ws';
import { useServer } from 'graphql-ws/use/ws';
import { WebSocketServer, type WebSocket } from 'ws';
import { bearerKey, createKeyResolver, type ApiKeyOwner } from '../auth/api-keys.js';
import type { Context } from '../graphql/context.js';
import { schema } from '../graphql/schema.js';
import { createGraphiQLRenderer, graphiqlFor } from './graphiql.js';
import { PREVIEW_PATH, servePreview } from './preview-route.js';
import { handleTrackingRequest, isTrackingRequest } from './tracking-routes.js';
import { TrackingRecorder, type TrackingRecorderOptions } from '../services/tracking-recorder.js';
import { asUserErrors } from '../services/user-input.js';
import type { Logger } from '../logger.js';
import { createServerOperations, type ServerSettings } from './operations.js';
import { requestIdOf } from './use-request-id.js';
import { forWorkspace, type Runtime } from '../runtime.js';

export interface AppOptions {
  /** The database, queue and clocks the API works with (src/runtime.ts). */
  runtime: Runtime;
  logger: Logger;
  /** The local development key: prefilled in GraphiQL's headers for loopback clients only. */
  graphiqlApiKey?: string;
  /** Limits, rate limit, introspection and GraphiQL switches (defaults: src/config.ts). */
  settings?: Partial<ServerSettings>;
  /** How opens and clicks are buffered (defaults: src/services/tracking-recorder.ts). */
  tracking?: TrackingRecorderOptions;
}

interface ServerContext {
  req?: IncomingMessage;
  /** Set for WebSocket operations, authenticated once at connection_init. */
  owner?: ApiKeyOwner;
}

type WsExtra = {
  owner?: ApiKeyOwner;
  request: IncomingMessage;
  socket: WebSocket;
  /** The last change cursor sent on this connection. */
  lastCursor?: string;
};

/** Bytes a WebSocket may have queued before its client counts as too slow. */
const MAX_SOCKET_BUFFER = 4 * 1024 * 1024;

const unauthenticated = (message: string) =>
  createGraphQLError(message, { extensions: { code: 'UNAUTHENTICATED', http: { status: 401 } } });

/** Input mistakes thrown by queries show as BAD_USER_INPUT errors with their field path; the rest is masked. */
function maskUserFacingError(error: unknown, message: string, isDev?: boolean): Error {
  // Resolver errors arrive located (wrapped in a GraphQLError); the thrown error is originalError.
  const located = error as { originalError?: unknown; nodes?: never; path?: readonly (string | number)[] };
  const userErrors = asUserErrors(located?.originalError);
  if (userErrors) {
    const [first] = userErrors;
    return createGraphQLError(userErrors.map((e) => e.message).join('; '), {
      nodes: located.nodes,
      path: located.path,
      extensions: { code: first!.code === 'VALIDATION' ? 'BAD_USER_INPUT' : first!.code, field: first!.field },
    });
  }
  return maskError(error, message, isDev);
}

export function buildApp(options: AppOptions) {
  const { runtime } = options;
  const resolveKey = createKeyResolver(runtime.db);
  const ops = createServerOperations({ ...options, prisma: runtime.db, jobQueueRunning: () => runtime.running });
  const tracking = new TrackingRecorder(runtime.db, {
    onError: (error) => options.logger.error({ err: error }, 'recording opens and clicks failed; retrying'),
    ...options.tracking,
  });
  ops.metrics.countUnwrittenTracking(() => tracking.unwritten);

  const yoga = createYoga<ServerContext, Context>({
    schema,
    graphqlEndpoint: '/graphql',
    landingPage: false,
    // Bodies are bounded before Yoga sees them (ops.handle: Content-Length at most
    // MAX_BODY_BYTES, chunked bodies refused), so Yoga's own limit, a stream
    // pipeline around every request body, would only cost CPU (about 2 % of the API's).
    maxRequestBodySize: false,
    logging: {
      debug: (...args) => options.logger.debug(args),
      info: (...args) => options.logger.info(args),
      warn: (...args) => options.logger.warn(args),
      error: (...args) => options.logger.error(args),
    },
    plugins: ops.plugins,
    graphiql: ops.settings.GRAPHIQL && graphiqlFor(options.graphiqlApiKey),
    renderGraphiQL: createGraphiQLRenderer(),
    // Never development mode: no stack traces or original messages (SQL) reach clients.
    maskedErrors: {
      isDev: false,
      maskError: (error, message) => {
        const masked = maskUserFacingError(error, message, false);
        if (masked.message === message) options.logger.error({ err: (error as { originalError?: unknown }).originalError ?? error }, 'unexpected error');
        return masked;
      },
    },
    context: async ({ request, owner }): Promise<Context> => {
      const requestId = request ? requestIdOf(request) : randomUUID();
      if (owner) {
        await ops.rateLimit(owner.apiKeyId);
        return { ...owner, requestId, runtime: await forWorkspace(runtime, owner.workspaceId) };
      }
      const header = request.headers.get('authorization');
      if (!header) throw unauthenticated('Missing API key: send the header Authorization: Bearer <key>');
      const key = bearerKey(header);
      const found = key ? await resolveKey(key) : null;
      if (!found) throw unauthenticated('Invalid API key');
      await ops.rateLimit(found.apiKeyId);
      return { ...found, requestId, runtime: await forWorkspace(runtime, found.workspaceId) };
    },
  });

  const server: Server = createServer((req, res) => {
    if (ops.handle(req, res)) return;
    if (req.method === 'GET' && PREVIEW_PATH.test(req.url ?? '')) {
      servePreview(req, res, runtime, resolveKey).catch((error) => {
        options.logger.error({ err: error }, 'preview failed');
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' }).end('Preview failed');
      });
      return;
    }
    if (isTrackingRequest(req.url)) {
      handleTrackingRequest(req, res, { runtime, resolveKey, logger: options.logger, recorder: tracking });
      return;
    }
    void yoga.requestListener(req, res);
  });

  const wss = new WebSocketServer({ server, path: yoga.graphqlEndpoint });
  const wsServer = useServer<Record<string, unknown>, WsExtra>(
    {
      // A connection_init without a valid key is refused (close code 4403).
      onConnect: async (ctx: WsContext<Record<string, unknown>, WsExtra>) => {
        const params = ctx.connectionParams ?? {};
        const raw = params.Authorization ?? params.authorization ?? ctx.extra.request.headers.authorization;
        const key = typeof raw === 'string' ? (bearerKey(raw) ?? raw) : null;
        const owner = key ? await resolveKey(key) : null;
        if (!owner) return false;
        ctx.extra.owner = owner;
        return true;
      },
      execute: (args: { rootValue: { execute: (a: unknown) => unknown } }) => args.rootValue.execute(args),
      subscribe: (args: { rootValue: { subscribe: (a: unknown) => unknown } }) => args.rootValue.subscribe(args),
      // A client whose socket backs up is dropped with its last cursor, instead of
      // the server buffering without bound; it resumes with after: <cursor>.
      onNext: (ctx: WsContext<Record<string, unknown>, WsExtra>, _id: string, _payload: unknown, _args: unknown, result: { data?: { enrollmentChanged?: { cursor?: string } } }) => {
        const socket = ctx.extra.socket;
        if (socket.bufferedAmount > MAX_SOCKET_BUFFER) {
          socket.close(4429, `Too far behind; resume with after: "${ctx.extra.lastCursor ?? ''}"`.slice(0, 120));
          return undefined;
        }
        const cursor = result.data?.enrollmentChanged?.cursor;
        if (cursor) ctx.extra.lastCursor = cursor;
        return undefined;
      },
      onSubscribe: async (ctx: WsContext<Record<string, unknown>, WsExtra>, _id: string, params: SubscribePayload) => {
        const { schema: envelopedSchema, execute, subscribe, contextFactory, parse, validate } = yoga.getEnveloped({
          ...ctx,
          req: ctx.extra.request,
          owner: ctx.extra.owner,
          params,
        });
        let document;
        let contextValue;
        try {
          // Parse errors (token limit), shutdown and the rate limit end this operation, not the socket.
          if (ops.drain.draining) throw createGraphQLError('Server is shutting down', { extensions: { code: 'SHUTTING_DOWN' } });
          document = parse(params.query);
          const invalid = validate(envelopedSchema, document);
          if (invalid.length) return invalid;
          contextValue = await contextFactory();
        } catch (error) {
          if (error instanceof GraphQLError || (error instanceof Error && error.name === 'GraphQLError')) return [error as GraphQLError];
          throw error;
        }
        const args = {
          schema: envelopedSchema,
          operationName: params.operationName,
          document,
          variableValues: params.variables,
          contextValue,
          rootValue: { execute, subscribe },
        };
        return args;
      },
    } as never,
    wss,
  );

  return {
    yoga,
    server,
    async start(port: number, host = '127.0.0.1'): Promise<number> {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => resolve());
      });
      return (server.address() as AddressInfo).port;
    },
    metrics: ops.metrics,
    /** The buffer of opens and clicks (`settled()` waits until all answered are written). */
    tracking,
    /**
     * Stops taking work: readiness turns 503, new requests are refused, WebSocket
     * clients are closed with 1001 (Going away), SSE streams end, and in-flight
     * requests get up to `timeoutMs` to finish (default: none). Then the opens and
     * clicks still buffered are written (for up to `timeoutMs`, at least 10 s).
     */
    async stop(stopOptions: { timeoutMs?: number } = {}): Promise<void> {
      ops.drain.draining = true;
      await wsServer.dispose();
      await ops.drain.drain(server, stopOptions.timeoutMs ?? 0);
      const lost = await tracking.close(Math.max(stopOptions.timeoutMs ?? 0, 10_000));
      if (lost) options.logger.error({ lost }, 'opens and clicks could not be written before the stop');
    },
  };
}

export type App = ReturnType<typeof buildApp>;
