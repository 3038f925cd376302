// The HTTP server: GraphQL over HTTP and SSE (Yoga), GraphQL over WebSocket
// (graphql-ws) on the same port and path, and a health route.
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createGraphQLError, createYoga, maskError } from 'graphql-yoga';
import type { Context as WsContext, SubscribePayload } from 'graphql-ws';
import { useServer } from 'graphql-ws/use/ws';
import { WebSocketServer, type WebSocket } from 'ws';
import { bearerKey, createKeyResolver, type ApiKeyOwner } from '../auth/api-keys.js';
import type { PrismaClient } from '../generated/prisma/client.js';
import type { Context } from '../graphql/context.js';
import { schema } from '../graphql/schema.js';
import { PREVIEW_PATH, servePreview } from './preview-route.js';
import { asUserErrors } from '../services/user-input.js';
import type { Logger } from '../logger.js';

export interface AppOptions {
  prisma: PrismaClient;
  logger: Logger;
  /** Prefilled in GraphiQL's headers: only for a local development key. */
  graphiqlApiKey?: string;
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
  const resolveKey = createKeyResolver(options.prisma);

  const yoga = createYoga<ServerContext, Context>({
    schema,
    graphqlEndpoint: '/graphql',
    landingPage: false,
    logging: {
      debug: (...args) => options.logger.debug(args),
      info: (...args) => options.logger.info(args),
      warn: (...args) => options.logger.warn(args),
      error: (...args) => options.logger.error(args),
    },
    graphiql: {
      title: 'Stepwise',
      subscriptionsProtocol: 'WS',
      headers: JSON.stringify({ Authorization: `Bearer ${options.graphiqlApiKey ?? '<your API key>'}` }),
    },
    maskedErrors: { maskError: maskUserFacingError },
    context: async ({ request, owner }): Promise<Context> => {
      const requestId = request?.headers.get('x-request-id') ?? randomUUID();
      if (owner) return { ...owner, requestId };
      const header = request.headers.get('authorization');
      if (!header) throw unauthenticated('Missing API key: send the header Authorization: Bearer <key>');
      const key = bearerKey(header);
      const found = key ? await resolveKey(key) : null;
      if (!found) throw unauthenticated('Invalid API key');
      return { ...found, requestId };
    },
  });

  const server: Server = createServer((req, res) => {
    if (req.url === '/healthz') {
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}');
      return;
    }
    if (req.method === 'GET' && PREVIEW_PATH.test(req.url ?? '')) {
      servePreview(req, res, resolveKey).catch((error) => {
        options.logger.error({ err: error }, 'preview failed');
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' }).end('Preview failed');
      });
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
        const args = {
          schema: envelopedSchema,
          operationName: params.operationName,
          document: parse(params.query),
          variableValues: params.variables,
          contextValue: await contextFactory(),
          rootValue: { execute, subscribe },
        };
        const errors = validate(args.schema, args.document);
        if (errors.length) return errors;
        return args;
      },
    } as never,
    wss,
  );

  return {
    yoga,
    server,
    async start(port: number, host = '0.0.0.0'): Promise<number> {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => resolve());
      });
      return (server.address() as AddressInfo).port;
    },
    async stop(): Promise<void> {
      await wsServer.dispose();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}

export type App = ReturnType<typeof buildApp>;
