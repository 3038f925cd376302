// The environment, validated once at startup. A bad value stops the process with
// one line naming the variable, instead of failing later somewhere deep.
import { z } from 'zod';
import { isTestKey } from './auth/api-keys.js';
import { DEFAULT_SHOPIFY_API_VERSION } from './integrations/shopify.js';

const optionalUrl = (...schemes: string[]) =>
  z
    .string()
    .trim()
    .transform((v) => (v === '' ? undefined : v))
    .optional()
    .refine((v) => v === undefined || (URL.canParse(v) && schemes.includes(new URL(v).protocol.slice(0, -1))), {
      message: `must be a URL (${schemes.join(', ')})`,
    });

const int = (min: number, max: number, fallback: number) =>
  z.coerce
    .number({ message: 'must be a whole number' })
    .int({ message: 'must be a whole number' })
    .min(min, { message: `must be at least ${min}` })
    .max(max, { message: `must be at most ${max}` })
    .default(fallback);

/** An optional string; empty counts as unset. */
const optionalText = z
  .string()
  .trim()
  .transform((v) => (v === '' ? undefined : v))
  .optional();

/** `true`/`false` (also 1/0, on/off); unset means the default for NODE_ENV. */
const flag = z
  .enum(['true', 'false', '1', '0', 'on', 'off', ''], { message: 'must be true or false' })
  .optional()
  .transform((v) => (v === undefined || v === '' ? undefined : ['true', '1', 'on'].includes(v)));

const LLM_SETTINGS = ['LLM_BASE_URL', 'LLM_API_KEY', 'LLM_MODEL'] as const;

const configSchema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  PORT: int(0, 65535, 4000),
  /** Unset: 127.0.0.1 on the embedded default (a local start), 0.0.0.0 with DATABASE_URL. */
  HOST: optionalText,
  DATABASE_URL: optionalUrl('postgres', 'postgresql'),
  /** Where the embedded Postgres keeps its data when DATABASE_URL is unset. */
  STEPWISE_DATA_DIR: z.string().default('.data'),
  EMBEDDED_POSTGRES_PORT: int(1, 65535, 54329),
  PUBLIC_URL: optionalUrl('http', 'https'),
  SMTP_URL: optionalUrl('smtp', 'smtps'),
  /** Where test workspaces' mail is relayed besides being captured; unset, it never leaves the machine. */
  TEST_SMTP_URL: optionalUrl('smtp', 'smtps'),
  MAIL_FROM: z.string().default('Stepwise <no-reply@stepwise.local>'),
  STEPWISE_API_KEY: z
    .string()
    .min(16, { message: 'must be at least 16 characters' })
    // It creates a live workspace; a test key belongs to a live workspace's twin (createTestKey).
    .refine((v) => !isTestKey(v), { message: 'must be a live key (sk_test_ keys are made by createTestKey)' })
    .optional(),
  /** Signs tracking links and encrypts stored provider secrets. */
  STEPWISE_SECRET: z.string().min(16, { message: 'must be at least 16 characters' }).optional(),
  /** Where the Stripe SDK sends its requests (a local Stripe-speaking server in tests). */
  STRIPE_API_HOST: z.string().trim().min(1).default('api.stripe.com'),
  STRIPE_API_PORT: int(1, 65535, 443),
  STRIPE_API_PROTOCOL: z.enum(['https', 'http']).default('https'),
  /** Where Shopify Admin API requests go instead of https://<shop> (a local Shopify-speaking server in tests). */
  SHOPIFY_API_URL: z.url({ protocol: /^https?$/ }).optional(),
  SHOPIFY_API_VERSION: z.string().regex(/^(\d{4}-\d{2}|unstable)$/, { message: 'must be a Shopify API version such as 2026-10' }).default(DEFAULT_SHOPIFY_API_VERSION),
  STEPWISE_ROLE: z.enum(['all', 'api', 'worker']).default('all'),
  WORKER_CONCURRENCY: int(1, 1000, 10),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** An OpenAI-compatible chat-completions endpoint drafting sequences from a goal (all three, or none). */
  LLM_BASE_URL: optionalUrl('http', 'https'),
  LLM_API_KEY: optionalText,
  LLM_MODEL: optionalText,
  /** How long one request to the language model may take (a draft asks at most twice). */
  LLM_TIMEOUT_MS: int(100, 300_000, 30_000),
  /** GraphQL requests (HTTP and WebSocket operations) per API key per minute; 0 turns the limit off. */
  RATE_LIMIT_PER_MINUTE: int(0, 1_000_000, 600),
  /** Largest accepted request body; larger ones get HTTP 413. */
  MAX_BODY_BYTES: int(1024, 100 * 1024 * 1024, 1024 * 1024),
  GRAPHQL_MAX_DEPTH: int(1, 1000, 12),
  GRAPHQL_MAX_ALIASES: int(0, 1000, 15),
  GRAPHQL_MAX_TOKENS: int(10, 1_000_000, 10_000),
  GRAPHQL_MAX_COST: int(1, 10_000_000, 200_000),
  GRAPHQL_MAX_DIRECTIVES: int(0, 1000, 50),
  /** Schema introspection and GraphiQL: on unless NODE_ENV=production. */
  GRAPHQL_INTROSPECTION: flag,
  GRAPHIQL: flag,
  /** When set, GET /metrics needs the header Authorization: Bearer <token>. */
  METRICS_TOKEN: z.string().min(16, { message: 'must be at least 16 characters' }).optional(),
  /** How long the whole-deployment figures of /metrics (job and email counts) are reused. */
  METRICS_CACHE_MS: int(0, 3_600_000, 5_000),
  /** How long /readyz reuses its database and migration checks. */
  READINESS_CACHE_MS: int(0, 60_000, 1_000),
  /** Subscriptions one API key may hold open at once in one API process (WebSocket and SSE together). */
  MAX_SUBSCRIPTIONS_PER_KEY: int(1, 1_000_000, 100),
  /** How long SIGTERM waits for in-flight requests and step jobs before closing them. */
  SHUTDOWN_TIMEOUT_MS: int(0, 600_000, 10_000),
}).superRefine((c, ctx) => {
  const given = LLM_SETTINGS.filter((name) => c[name] !== undefined);
  if (given.length === 0 || given.length === LLM_SETTINGS.length) return;
  for (const name of LLM_SETTINGS.filter((n) => c[n] === undefined)) {
    ctx.addIssue({ code: 'custom', path: [name], message: `is required with ${given.join(' and ')}` });
  }
});

export type Config = Readonly<
  Omit<z.infer<typeof configSchema>, 'GRAPHQL_INTROSPECTION' | 'GRAPHIQL'> & {
    HOST: string;
    PUBLIC_URL: string;
    GRAPHQL_INTROSPECTION: boolean;
    GRAPHIQL: boolean;
  }
>;

export class ConfigError extends Error {}

export function parseConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const result = configSchema.safeParse(env);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    const name = String(issue.path[0]);
    const got = env[name];
    // Never echo a secret; show other values so a typo is easy to spot.
    const shown = got === undefined || /SECRET|KEY|PASSWORD|TOKEN|_URL$/.test(name) ? '' : ` (got ${JSON.stringify(got)})`;
    throw new ConfigError(`Invalid configuration: ${name} ${issue.message}${shown}`);
  }
  const data = result.data;
  const development = data.NODE_ENV !== 'production';
  return Object.freeze({
    ...data,
    // The embedded default is a local start whose development key must not face the network.
    HOST: data.HOST ?? (data.DATABASE_URL ? '0.0.0.0' : '127.0.0.1'),
    PUBLIC_URL: data.PUBLIC_URL ?? `http://localhost:${data.PORT}`,
    GRAPHQL_INTROSPECTION: data.GRAPHQL_INTROSPECTION ?? development,
    GRAPHIQL: data.GRAPHIQL ?? development,
  });
}
