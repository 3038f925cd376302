// Per-API-key rate limit for GraphQL operations (HTTP requests and WebSocket
// subscribe messages alike): a budget of RATE_LIMIT_PER_MINUTE per key and
// minute, kept in this process (rate-limiter-flexible). With several API
// processes behind a balancer each process keeps its own budget.
import { createGraphQLError } from 'graphql-yoga';
import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';

export class RateLimiter {
  private readonly limiter: RateLimiterMemory | undefined;

  constructor(perMinute: number) {
    this.limiter = perMinute > 0 ? new RateLimiterMemory({ points: perMinute, duration: 60 }) : undefined;
  }

  /** Takes one operation from the key's budget; refused: how many seconds until one is free. */
  async take(apiKeyId: string): Promise<{ ok: true } | { ok: false; retryAfterSeconds: number }> {
    if (!this.limiter) return { ok: true };
    try {
      await this.limiter.consume(apiKeyId);
      return { ok: true };
    } catch (error) {
      if (!(error instanceof RateLimiterRes)) throw error;
      return { ok: false, retryAfterSeconds: Math.max(1, Math.ceil(error.msBeforeNext / 1000)) };
    }
  }
}

/** The GraphQL error for a refused operation: HTTP 429 with Retry-After. */
export function rateLimitedError(retryAfterSeconds: number) {
  return createGraphQLError(`Rate limit exceeded for this API key; retry after ${retryAfterSeconds} s`, {
    extensions: {
      code: 'RATE_LIMITED',
      retryAfter: retryAfterSeconds,
      http: { status: 429, headers: { 'Retry-After': String(retryAfterSeconds) } },
    },
  });
}
