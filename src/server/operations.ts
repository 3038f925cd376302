// What the HTTP server needs to run in production, gathered in one place so
// app.ts only hooks it in: request ids and access logs, body size limit,
// draining on shutdown, /healthz /readyz /metrics, the GraphQL limit plugins and
// the per-key rate limit.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Plugin } from 'graphql-yoga';
import { parseConfig, type Config } from '../config.js';
import type { PrismaClient } from '../generated/prisma/client.js';
import type { Logger } from '../logger.js';
import { refuseOversizedBody } from './body-limit.js';
import { HttpDrain } from './drain.js';
import { graphqlLimitPlugins } from './graphql-limits.js';
import { createOpsRoutes } from './health-routes.js';
import { createMetrics, routeLabel } from './metrics.js';
import { RateLimiter, rateLimitedError } from './rate-limit.js';
import { useMetrics } from './use-metrics.js';
import { useNoNulCharacters } from './use-no-nul-characters.js';
import { useSubscriptionCap } from './use-subscription-cap.js';
import { assignRequestId, useRequestId } from './use-request-id.js';

export type ServerSettings = Pick<
  Config,
  | 'RATE_LIMIT_PER_MINUTE'
  | 'MAX_BODY_BYTES'
  | 'GRAPHQL_MAX_DEPTH'
  | 'GRAPHQL_MAX_ALIASES'
  | 'GRAPHQL_MAX_TOKENS'
  | 'GRAPHQL_MAX_COST'
  | 'GRAPHQL_MAX_DIRECTIVES'
  | 'GRAPHQL_INTROSPECTION'
  | 'GRAPHIQL'
  | 'METRICS_TOKEN'
  | 'METRICS_CACHE_MS'
  | 'READINESS_CACHE_MS'
  | 'MAX_SUBSCRIPTIONS_PER_KEY'
>;

export function createServerOperations(options: { prisma: PrismaClient; jobQueueRunning: () => boolean; logger: Logger; settings?: Partial<ServerSettings> }) {
  const settings: ServerSettings = { ...parseConfig({}), ...options.settings };
  const metrics = createMetrics(options.prisma, { cacheMs: settings.METRICS_CACHE_MS });
  const drain = new HttpDrain();
  const limiter = new RateLimiter(settings.RATE_LIMIT_PER_MINUTE);
  const serveOpsRoute = createOpsRoutes({
    prisma: options.prisma,
    jobQueueRunning: options.jobQueueRunning,
    metrics,
    isDraining: () => drain.draining,
    readinessCacheMs: settings.READINESS_CACHE_MS,
    metricsToken: settings.METRICS_TOKEN,
  });

  const plugins: Plugin[] = [
    useRequestId(),
    useMetrics(metrics),
    useNoNulCharacters(),
    useSubscriptionCap(settings.MAX_SUBSCRIPTIONS_PER_KEY) as Plugin,
    ...graphqlLimitPlugins({
      maxDepth: settings.GRAPHQL_MAX_DEPTH,
      maxAliases: settings.GRAPHQL_MAX_ALIASES,
      maxTokens: settings.GRAPHQL_MAX_TOKENS,
      maxCost: settings.GRAPHQL_MAX_COST,
      maxDirectives: settings.GRAPHQL_MAX_DIRECTIVES,
      introspection: settings.GRAPHQL_INTROSPECTION,
    }),
  ];

  return {
    settings,
    metrics,
    drain,
    plugins,
    /**
     * First thing for every HTTP request: id, access log, metrics, then refusals
     * (shutting down, body too large) and the operations routes. True when the
     * request was answered here.
     */
    handle(req: IncomingMessage, res: ServerResponse): boolean {
      const requestId = assignRequestId(req, res);
      const started = process.hrtime.bigint();
      metrics.observeHttp(req, res);
      res.once('close', () => {
        const route = routeLabel(req.url);
        const entry = {
          requestId,
          method: req.method,
          route,
          status: res.statusCode,
          durationMs: Number(process.hrtime.bigint() - started) / 1e6,
        };
        // The path only: query strings and headers (API keys) are never logged.
        if (route === '/healthz' || route === '/readyz' || route === '/metrics') options.logger.debug(entry, 'request');
        else options.logger.info(entry, 'request');
      });
      if (!drain.admit(req, res)) return true;
      if (refuseOversizedBody(req, res, settings.MAX_BODY_BYTES)) return true;
      return serveOpsRoute(req, res);
    },
    /** Takes one operation from the key's budget; throws the 429 error when it is spent. */
    async rateLimit(apiKeyId: string): Promise<void> {
      const taken = await limiter.take(apiKeyId);
      if (taken.ok) return;
      metrics.rateLimited.inc();
      throw rateLimitedError(taken.retryAfterSeconds);
    },
  };
}

export type ServerOperations = ReturnType<typeof createServerOperations>;
