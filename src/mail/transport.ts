// Delivery: real SMTP through nodemailer when SMTP_URL is set; otherwise the
// outbox only (messages are recorded as sent and visible through `messages`).
// Test workspaces' mail never takes that way: it is captured (capture.ts), and
// relayed only to TEST_SMTP_URL when that is set.
import nodemailer, { type Transporter } from 'nodemailer';
import type { PrismaClient } from '../generated/prisma/client.js';
import { captureTransport } from './capture.js';
import { composeMime } from './mime.js';

export interface OutgoingMail {
  from: string;
  to: string;
  subject: string;
  html: string;
  text: string;
  /** RFC 5322 Message-ID (with angle brackets), stable per run and step. */
  messageId: string;
  headers?: Record<string, string>;
  /** The Date header, in engine time (a test workspace's clock); unset: the relay's now. */
  date?: Date;
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
  const transporter = smtpTransporter(smtpUrl, options);
  return {
    async send(mail) {
      // Composed here in one pass (mime.ts), the pool only converses with the relay.
      await transporter.sendMail(composeMime(mailOptions(mail)));
    },
    close: () => transporter.close(),
  };
}

/** The message as nodemailer composes it. */
export function mailOptions(mail: OutgoingMail) {
  const { from, to, subject, html, text, messageId, headers } = mail;
  return { from, to, subject, html, text, messageId, headers };
}

/** The pooled nodemailer transporter behind an SMTP transport (see smtpTransport). */
export function smtpTransporter(smtpUrl: string, options: { connections?: number } = {}): Transporter {
  return nodemailer.createTransport({
    url: smtpUrl,
    pool: true,
    maxConnections: options.connections ?? 5,
    maxMessages: 1000,
    connectionTimeout: 10_000,
    greetingTimeout: 10_000,
    socketTimeout: 30_000,
  });
}

/** No relay configured: nothing leaves the machine, the message stays in the outbox. */
export const outboxTransport: MailTransport = { send: async () => {}, close: () => {} };

/** The process's transports and sender address (the runtime holds one). */
export interface Mailer {
  /** Live mail: SMTP_URL's relay, or the outbox only. */
  transport: MailTransport;
  /** Test workspaces' mail: captured, and relayed only to TEST_SMTP_URL. */
  test: MailTransport;
  from: string;
}

export const DEFAULT_MAIL_FROM = 'Stepwise <no-reply@stepwise.local>';

export interface MailSettings {
  /** SMTP_URL: the relay of live mail (unset: it stays in the outbox). */
  smtpUrl?: string;
  /** TEST_SMTP_URL: where test workspaces' captured mail is also relayed (unset: nowhere). */
  testSmtpUrl?: string;
  from?: string;
  connections?: number;
}

/** `db`: captured test mail keeps its headers on the message row. */
export function createMailer(options: MailSettings, db: PrismaClient): Mailer {
  return {
    transport: options.smtpUrl ? smtpTransport(options.smtpUrl, { connections: options.connections }) : outboxTransport,
    // Test mail is light: a couple of connections are plenty.
    test: captureTransport(options.testSmtpUrl ? smtpTransporter(options.testSmtpUrl, { connections: 2 }) : null, db),
    from: options.from ?? DEFAULT_MAIL_FROM,
  };
}

/** The domain of the sender address, for Message-IDs. */
export function senderDomain(from: string): string {
  return /@([^>\s]+)/.exec(from)?.[1] ?? 'stepwise.local';
}
