import { pino, type DestinationStream, type Logger } from 'pino';

export type { Logger };

/** JSON logs; Authorization headers and keys never reach them. */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino(
    {
      level,
      redact: {
        paths: [
          'req.headers.authorization',
          'req.headers.cookie',
          '*.headers.authorization',
          'authorization',
          '*.authorization',
          'connectionParams',
          '*.connectionParams',
          '*.apiKey',
          '*.key',
          'key',
        ],
        censor: '[redacted]',
      },
    },
    destination,
  );
}
