// composeMime writes the message nodemailer's own build() streams out: the same
// bytes for every shape a Stepwise email takes (only the random boundary differs
// between two compositions, so it is named alike before comparing).
import { describe, expect, it } from 'vitest';
import MailComposer from 'nodemailer/lib/mail-composer/index.js';
import type Mail from 'nodemailer/lib/mailer/index.js';
import { composeMime } from '../../src/mail/mime.js';

const date = new Date('2026-11-30T12:00:00Z');
const base = {
  from: 'Stepwise <no-reply@stepwise.local>',
  to: 'ada@example.com',
  subject: 'Welcome aboard',
  html: '<p>Hello Ada</p>',
  text: 'Hello Ada',
  messageId: '<run.step@stepwise.local>',
  date,
};
const longUrl = `https://mail.example.com/t/u/0193abcd-1234-5678-9abc-def012345678/${'f'.repeat(64)}`;

const fixtures: Record<string, Mail.Options> = {
  'ASCII text and HTML (7bit)': base,
  'unsubscribe headers, one folded': {
    ...base,
    headers: { 'X-Stepwise-Run': 'r1', 'List-Unsubscribe': `<${longUrl}>`, 'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click' },
  },
  'non-ASCII subject, sender name and body (quoted-printable)': {
    ...base,
    from: 'Zoë from Café Crème <bonjour@example.fr>',
    subject: 'Ta commande est prête 🎉 — merci, Zoë, pour ta confiance et à très bientôt',
    html: `<table role="presentation"><tr><td style="padding:8px 24px;font-family:Helvetica">Prête à partir ?</td></tr></table>${'<p>é</p>'.repeat(200)}`,
    text: 'Prête à partir ?\nMerci.\r\nÀ bientôt.',
  },
  'long ASCII lines (quoted-printable)': {
    ...base,
    html: `<a href="${longUrl}?u=${encodeURIComponent(longUrl)}">${'x'.repeat(300)}</a>`,
    text: `${'word '.repeat(60)}\n.a line starting with a dot\n`,
  },
  'mostly non-Latin text (base64)': { ...base, subject: 'ご注文ありがとうございます', html: '<p>ご注文ありがとうございます。</p>'.repeat(20), text: 'ご注文ありがとうございます。'.repeat(20) },
  'no plain-text part (single part)': { ...base, text: '' },
  'internationalised domain and quoted sender name': { ...base, from: '"Ada, Team" <team@example.com>', to: 'user@jõgeva.ee' },
  'an attachment from a buffer (base64)': { ...base, attachments: [{ filename: 'receipt.bin', content: Buffer.from([0, 1, 2, 255]) }] },
};

const sameBoundary = (message: string) => message.replace(/_NmP-[0-9a-f]+-Part_/g, '_NmP-boundary-Part_');

describe('composeMime', () => {
  for (const [name, options] of Object.entries(fixtures)) {
    it(`writes the bytes nodemailer builds: ${name}`, async () => {
      const expected = (await new MailComposer(options).compile().build()).toString('utf8');
      const { raw, envelope } = composeMime(options);
      expect(sameBoundary(raw.toString('utf8'))).toBe(sameBoundary(expected));
      expect(envelope).toEqual(new MailComposer(options).compile().getEnvelope());
    });
  }

  it('refuses what it does not write as nodemailer would: a file, or binary content as quoted-printable', () => {
    expect(() => composeMime({ ...base, attachments: [{ path: '/etc/hostname' }] })).toThrow(/strings or buffers/);
    expect(() =>
      composeMime({ ...base, attachments: [{ content: Buffer.from([13, 10]), contentType: 'application/octet-stream', contentTransferEncoding: 'quoted-printable' }] }),
    ).toThrow(/for text parts/);
  });
});
