// An email's MIME bytes, as nodemailer builds them, without its streams.
// nodemailer's MailComposer decides everything about the message (headers,
// address and RFC 2047 encoding, each part's transfer encoding, the boundary);
// its build() then pushes every part through a pipeline of Transform streams,
// which cost a sending worker about 0.6 ms of CPU an email, more than the SMTP
// conversation itself. Here the same tree is written out in one pass with
// nodemailer's own encoders: the same bytes (test/mail/mime.test.ts), for a
// fifth of the CPU. Contents are strings or buffers (no files, streams or URLs).
import MailComposer from 'nodemailer/lib/mail-composer/index.js';
import type MimeNode from 'nodemailer/lib/mime-node/index.js';
import { encode as qpEncode, wrap as qpWrap } from 'nodemailer/lib/qp/index.js';
import { encode as base64Encode, wrap as base64Wrap } from 'nodemailer/lib/base64/index.js';
import type Mail from 'nodemailer/lib/mailer/index.js';

/** What nodemailer's MimeNode holds and its build() reads; its typings leave these out. */
interface Node {
  content?: unknown;
  multipart?: string | false;
  boundary?: string;
  childNodes: Node[];
  contentType?: string;
  buildHeaders(): string;
  getTransferEncoding(): string | false;
}

/** The message nodemailer would send for `options` (contents as strings or buffers), and its envelope. */
export function composeMime(options: Mail.Options): { raw: Buffer; envelope: { from: string; to: string[] } } {
  const root = new MailComposer(options).compile() as MimeNode & Node;
  const envelope = root.getEnvelope() as { from: string | false; to: string[] };
  // MimeNode.createReadStream ends the message with a line break unless it has one.
  let message = writeNode(root);
  if (!message.endsWith('\n')) message += '\r\n';
  return { raw: Buffer.from(message, 'utf8'), envelope: { from: envelope.from || '', to: envelope.to } };
}

/** MimeNode.stream, synchronously: headers, the encoded content, then each child between boundaries. */
function writeNode(node: Node): string {
  const encoding = node.getTransferEncoding();
  let out = `${node.buildHeaders()}\r\n\r\n`;
  if (node.content !== undefined && node.content !== '') out += encode(node.content, encoding, node.contentType);
  if (node.multipart) {
    node.childNodes.forEach((child, i) => {
      out += `${i ? '\r\n' : ''}--${node.boundary}\r\n${writeNode(child)}`;
    });
    out += `\r\n--${node.boundary}--\r\n`;
  }
  return out;
}

function encode(content: unknown, encoding: string | false, contentType = ''): string {
  if (typeof content !== 'string' && !Buffer.isBuffer(content)) throw new Error('composeMime: contents must be strings or buffers');
  const buffer = typeof content === 'string' ? Buffer.from(content, 'utf8') : content;
  if (encoding === 'base64') return base64Wrap(base64Encode(buffer), 76);
  if (encoding === 'quoted-printable') {
    // As qp.Encoder: outside text, a lone CR or LF is data and is encoded.
    if (!/^text\//i.test(contentType)) throw new Error(`composeMime: quoted-printable is for text parts (got ${contentType})`);
    return qpWrap(qpEncode(buffer), 76);
  }
  return buffer.toString('utf8');
}
