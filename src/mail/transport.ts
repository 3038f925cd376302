// Delivery: real SMTP through nodemailer when SMTP_URL is set; otherwise the
// outbox only (messages are recorded as sent and visible through `messages`).
import nodemailer, { type Transporter } from 'nodemailer';

export interface OutgoingMail {
  from: string;
  to: string;
  subject: string;
  html: string;
  text: string;
  /** RFC 5322 Message-ID (with angle brackets), stable per run and step. */
  messageId: string;
  headers?: Record<string, string>;
}

export interface MailTransport {
  /** Hands the message to the relay; throws when it is refused or unreachable. */
  send(mail: OutgoingMail): Promise<void>;
  close(): void;
}

/**
 * One pooled SMTP transport per process: a few connections reused for many
 * messages (nodemailer `pool`), with timeouts so a stuck relay cannot hold a
 * hand-off for ever. `connections`: the most messages handed over at once.
 */
export function smtpTransport(smtpUrl: string, options: { connections?: number } = {}): MailTransport {
  const transporter: Transporter = nodemailer.createTransport({
    url: smtpUrl,
    pool: true,
    maxConnections: options.connections ?? 5,
    maxMessages: 1000,
    connectionTimeout: 10_000,
    greetingTimeout: 10_000,
    socketTimeout: 30_000,
  });
  return {
    async send(mail) {
      await transporter.sendMail({
        from: mail.from,
        to: mail.to,
        subject: mail.subject,
        html: mail.html,
        text: mail.text,
        messageId: mail.messageId,
        headers: mail.headers,
      });
    },
    close: () => transporter.close(),
  };
}

/** No relay configured: nothing leaves the machine, the message stays in the outbox. */
export const outboxTransport: MailTransport = { send: async () => {}, close: () => {} };

let current: MailTransport = outboxTransport;
let from = 'Stepwise <no-reply@stepwise.local>';

export function configureMail(options: { smtpUrl?: string; from: string; connections?: number }): MailTransport {
  current.close();
  current = options.smtpUrl ? smtpTransport(options.smtpUrl, { connections: options.connections }) : outboxTransport;
  from = options.from;
  return current;
}

export function mailer(): { transport: MailTransport; from: string } {
  return { transport: current, from };
}

/** The domain of the sender address, for Message-IDs. */
export function senderDomain(): string {
  return /@([^>\s]+)/.exec(from)?.[1] ?? 'stepwise.local';
}
