// Graceful stop for the HTTP side: once draining, new requests get 503 with
// `Connection: close`, idle keep-alive connections are closed, streaming
// responses (SSE subscriptions) are ended, and in-flight requests may finish
// until the timeout; then every remaining connection is closed.
import type { IncomingMessage, Server, ServerResponse } from 'node:http';

export class HttpDrain {
  draining = false;
  private readonly inFlight = new Set<ServerResponse>();
  private readonly streams = new Set<ServerResponse>();
  private idle: (() => void) | undefined;

  /** Call first for each request; false when the request was refused (draining). */
  admit(req: IncomingMessage, res: ServerResponse): boolean {
    if (this.draining) {
      res.writeHead(503, { 'content-type': 'application/json', connection: 'close', 'retry-after': '1' });
      res.end('{"errors":[{"message":"Server is shutting down","extensions":{"code":"SHUTTING_DOWN"}}]}');
      return false;
    }
    this.inFlight.add(res);
    if (String(req.headers.accept ?? '').includes('text/event-stream')) this.streams.add(res);
    res.once('close', () => {
      this.inFlight.delete(res);
      this.streams.delete(res);
      if (this.inFlight.size === 0) this.idle?.();
    });
    return true;
  }

  get inFlightCount(): number {
    return this.inFlight.size;
  }

  /** Stops listening and waits (at most `timeoutMs`) for in-flight requests; then closes all connections. */
  async drain(server: Server, timeoutMs: number): Promise<void> {
    this.draining = true;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeIdleConnections();
    for (const res of this.streams) res.end();
    if (this.inFlight.size > 0 && timeoutMs > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, timeoutMs);
        this.idle = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    server.closeAllConnections();
    await closed;
  }
}
