// A real SMTP server (smtp-server) on a random local port that keeps what it
// receives, parsed (mailparser), so tests assert on delivered mail.
import type { AddressInfo } from 'node:net';
import { simpleParser, type ParsedMail } from 'mailparser';
import { SMTPServer } from 'smtp-server';
import { waitFor } from './wait-for.js';

export interface SmtpSink {
  url: string;
  messages: ParsedMail[];
  /** Refuse every message (the relay is "down" for mail, still reachable). */
  rejectAll: boolean;
  /** Hold each message this long before accepting it (a slow relay). */
  delayMs: number;
  /** Called when a message starts arriving, before it is accepted. */
  onIncoming?: () => void;
  waitFor(count: number, timeoutMs?: number): Promise<ParsedMail[]>;
  close(): Promise<void>;
}

export async function startSmtpSink(listenPort = 0): Promise<SmtpSink> {
  const messages: ParsedMail[] = [];
  const sink = { rejectAll: false, delayMs: 0 } as SmtpSink;
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    // Senders keep pooled connections open; closing must not wait 30 s for them.
    closeTimeout: 200,
    onData(stream, _session, callback) {
      if (sink.rejectAll) {
        stream.resume();
        stream.on('end', () => callback(Object.assign(new Error('Mailbox unavailable'), { responseCode: 450 })));
        return;
      }
      sink.onIncoming?.();
      simpleParser(stream)
        .then(async (mail) => {
          // A slow relay, on purpose: holds the SMTP transaction open (not a wait in a test).
          if (sink.delayMs) await new Promise((r) => setTimeout(r, sink.delayMs));
          messages.push(mail);
          callback();
        })
        .catch(callback);
    },
  });
  // A client that dies mid-session (a killed worker) resets its connection; that is
  // the client's failure, not the sink's, and must not crash the test process.
  server.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'ECONNRESET' && error.code !== 'EPIPE') console.error('smtp sink', error);
  });
  await new Promise<void>((resolve) => server.listen(listenPort, "127.0.0.1", resolve));
  const { port } = server.server.address() as AddressInfo;
  return Object.assign(sink, {
    url: `smtp://127.0.0.1:${port}`,
    messages,
    async waitFor(count: number, timeoutMs = 20_000) {
      await waitFor(() => messages.length >= count, { timeout: timeoutMs, message: () => `${count} messages at the SMTP sink (got ${messages.length})` });
      return messages;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  });
}
