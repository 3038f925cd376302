// A LISTEN connection of its own (NOTIFY cannot arrive on a pooled connection
// between queries): reconnects with backoff and full jitter after any error, and
// reports each (re)connection, after which a listener must assume it missed
// notifications and look again.
import pg from 'pg';

export interface Listener {
  stop(): Promise<void>;
}

export function listen(
  connectionString: string,
  channel: string,
  handlers: { notified: (payload: string) => void; connected: () => void; error?: (error: unknown) => void },
): Listener {
  let client: pg.Client | undefined;
  let stopped = false;
  let attempt = 0;
  let timer: NodeJS.Timeout | undefined;
  const retry = (failed: pg.Client) => {
    if (stopped || timer || client !== failed) return;
    client = undefined;
    failed.end().catch(() => {});
    timer = setTimeout(() => {
      timer = undefined;
      void connect();
    }, Math.random() * Math.min(5_000, 100 * 2 ** attempt++));
  };
  const connect = async () => {
    const next = new pg.Client({ connectionString });
    client = next;
    next.on('notification', (message) => handlers.notified(message.payload ?? ''));
    next.on('error', (error) => {
      handlers.error?.(error);
      retry(next);
    });
    next.on('end', () => retry(next));
    try {
      await next.connect();
      await next.query(`LISTEN ${pg.escapeIdentifier(channel)}`);
      attempt = 0;
      handlers.connected();
    } catch (error) {
      handlers.error?.(error);
      retry(next);
    }
  };
  void connect();
  return {
    async stop() {
      stopped = true;
      clearTimeout(timer);
      const last = client;
      client = undefined;
      await last?.end().catch(() => {});
    },
  };
}
