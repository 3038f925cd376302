import { pino, type Logger } from 'pino';

export type { Logger };

/** JSON logs; Authorization headers and keys never reach them. */
export function createLogger(level: string): Logger {
  return pino({
    level,
    redact: { paths: ['req.headers.authorization', '*.apiKey', '*.key', 'key'], censor: '[redacted]' },
  });
}
