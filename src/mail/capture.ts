// Test-mode mail: each message is composed into the exact MIME message an SMTP
// relay would receive (composed as live mail is, mime.ts, dated by the engine's
// clock — a test workspace's test clock), and its headers are kept on the
// message row, readable through `messages`. It leaves the machine only when a
// test relay (TEST_SMTP_URL) is given, then as those same bytes.
import type { Transporter } from 'nodemailer';
import MailComposer from 'nodemailer/lib/mail-composer/index.js';
import { dbExecute } from '../db/transaction.js';
import { Prisma, type PrismaClient } from '../generated/prisma/client.js';
import { composeMime } from './mime.js';
import { mailOptions, type MailTransport, type OutgoingMail } from './transport.js';

export interface MailHeader {
  name: string;
  value: string;
}

/** The header block of a composed message, unfolded, in order (values as on the wire). */
export function headersOf(message: Buffer): MailHeader[] {
  const text = message.toString('utf8').replace(/\r\n/g, '\n');
  const block = text.slice(0, text.indexOf('\n\n'));
  return block
    .replace(/\n[ \t]+/g, ' ')
    .split('\n')
    .map((line) => {
      const colon = line.indexOf(':');
      return { name: line.slice(0, colon), value: line.slice(colon + 1).trim() };
    });
}

/** `db`: where the composed headers are kept (on the message row). */
export function captureTransport(relay: Transporter | null, db: PrismaClient): MailTransport {
  return {
    async send(mail: OutgoingMail) {
      const options = { ...mailOptions(mail), date: mail.date ?? new Date() };
      // Without a relay only the header block is needed: built as the composer builds it, without
      // encoding the body (a test clock's advance captures thousands of emails: 7 times faster).
      const composed = relay ? composeMime(options) : null;
      const raw = composed?.raw ?? Buffer.from(`${new MailComposer(options).compile().buildHeaders()}\r\n\r\n`);
      // The Message-ID names one message row (unique); its send is recorded by the outbox as for any relay.
      // Around Prisma: its work per raw statement costs more CPU than this one.
      const headers = JSON.stringify(headersOf(raw));
      await dbExecute(db, Prisma.sql`UPDATE "Message" SET headers = ${headers}::jsonb WHERE "smtpMessageId" = ${mail.messageId}`);
      if (relay && composed) await relay.sendMail(composed);
    },
    close: () => relay?.close(),
  };
}
