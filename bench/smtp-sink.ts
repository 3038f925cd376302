// The SMTP server both the SMTP ceiling and the engine's SMTP figures send to: a
// real smtp-server on 127.0.0.1 that accepts every message without parsing it
// (so the sink costs the same for both), keeping each one's Message-ID and
// arrival time to check "each email exactly once" and to time bursts.
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';

export interface BenchSmtpSink {
  url: string;
  host: string;
  port: number;
  /** Message-ID header of each accepted message, in arrival order. */
  messageIds: string[];
  /** performance.now() at each acceptance. */
  arrivals: number[];
  reset(): void;
  close(): Promise<void>;
}

export async function startBenchSmtpSink(): Promise<BenchSmtpSink> {
  const messageIds: string[] = [];
  const arrivals: number[] = [];
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    // Senders keep pooled connections open; closing must not wait 30 s for them.
    closeTimeout: 200,
    size: 10 * 1024 * 1024,
    onData(stream, _session, callback) {
      let head = '';
      stream.on('data', (chunk: Buffer) => {
        if (head.length < 8192) head += chunk.toString('latin1');
      });
      stream.on('end', () => {
        messageIds.push(/^Message-ID:\s*(\S+)/im.exec(head)?.[1] ?? '');
        arrivals.push(performance.now());
        callback();
      });
    },
  });
  server.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'ECONNRESET' && error.code !== 'EPIPE') console.error('bench smtp sink', error);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.server.address() as AddressInfo;
  return {
    url: `smtp://127.0.0.1:${port}`,
    host: '127.0.0.1',
    port,
    messageIds,
    arrivals,
    reset() {
      messageIds.length = 0;
      arrivals.length = 0;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
