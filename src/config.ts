// The environment, validated once at startup. A bad value stops the process with
// one line naming the variable, instead of failing later somewhere deep.
import { z } from 'zod';

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

const configSchema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  PORT: int(0, 65535, 4000),
  HOST: z.string().default('0.0.0.0'),
  DATABASE_URL: optionalUrl('postgres', 'postgresql'),
  /** Where the embedded Postgres keeps its data when DATABASE_URL is unset. */
  STEPWISE_DATA_DIR: z.string().default('.data'),
  EMBEDDED_POSTGRES_PORT: int(1, 65535, 54329),
  PUBLIC_URL: optionalUrl('http', 'https'),
  SMTP_URL: optionalUrl('smtp', 'smtps'),
  MAIL_FROM: z.string().default('Stepwise <no-reply@stepwise.local>'),
  STEPWISE_API_KEY: z
    .string()
    .min(16, { message: 'must be at least 16 characters' })
    .optional(),
  /** Signs tracking links and encrypts stored provider secrets. */
  STEPWISE_SECRET: z.string().min(16, { message: 'must be at least 16 characters' }).optional(),
  /** Where the Stripe SDK sends its requests (a local Stripe-speaking server in tests). */
  STRIPE_API_HOST: z.string().trim().min(1).default('api.stripe.com'),
  STRIPE_API_PORT: int(1, 65535, 443),
  STRIPE_API_PROTOCOL: z.enum(['https', 'http']).default('https'),
  STEPWISE_ROLE: z.enum(['all', 'api', 'worker']).default('all'),
  WORKER_CONCURRENCY: int(1, 1000, 10),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

export type Config = Readonly<z.infer<typeof configSchema> & { PUBLIC_URL: string }>;

export class ConfigError extends Error {}

export function parseConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const result = configSchema.safeParse(env);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    const name = String(issue.path[0]);
    const got = env[name];
    throw new ConfigError(
      `Invalid configuration: ${name} ${issue.message}${got === undefined ? '' : ` (got ${JSON.stringify(got)})`}`,
    );
  }
  const data = result.data;
  return Object.freeze({ ...data, PUBLIC_URL: data.PUBLIC_URL ?? `http://localhost:${data.PORT}` });
}
