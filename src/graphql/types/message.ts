import { normalizeEmail } from '../../domain/email-address.js';
import { tryDecodeId } from '../../domain/public-id.js';
import type { MailHeader } from '../../mail/capture.js';
import { builder } from '../builder.js';
import { tenantNode } from '../tenant-node.js';
import { connectionWithTotalCount } from './connection.js';
import { MessageStatusEnum } from './enums.js';

const MessageHeaderRef = builder.objectRef<MailHeader>('MessageHeader').implement({
  description: 'One header line of a message, unfolded, its value as on the wire (RFC 2047 encoded words kept).',
  fields: (t) => ({ name: t.exposeString('name'), value: t.exposeString('value') }),
});

export const MessageRef = builder.prismaNode('Message', {
  ...tenantNode('Message'),
  fields: (t) => ({
    to: t.exposeString('to'),
    from: t.exposeString('from', { nullable: true }),
    subject: t.exposeString('subject'),
    previewText: t.exposeString('previewText', { nullable: true }),
    html: t.exposeString('html'),
    text: t.exposeString('text', { nullable: true }),
    headers: t.field({
      type: [MessageHeaderRef],
      nullable: true,
      description: "Every header as the message was composed (From, To, Subject, Date, Message-ID, MIME, List-Unsubscribe…), in order. Kept for a test workspace's captured messages; null for live ones.",
      select: { headers: true },
      resolve: (m) => (m.headers as MailHeader[] | null) ?? null,
    }),
    status: t.expose('status', { type: MessageStatusEnum }),
    sentAt: t.expose('sentAt', { type: 'DateTime', nullable: true }),
    openedAt: t.expose('openedAt', { type: 'DateTime', nullable: true }),
    clickedAt: t.expose('clickedAt', { type: 'DateTime', nullable: true }),
    enrollment: t.relation('enrollment', { nullable: true }),
    step: t.relation('step', { nullable: true }),
  }),
});

const MessageConnection = connectionWithTotalCount(MessageRef, 'MessageConnection');

function messageFilter(args: { to?: string | null; enrollmentId?: string | null }, workspaceId: string) {
  return {
    workspaceId,
    ...(args.to ? { to: normalizeEmail(args.to) } : {}),
    // An ID of another type matches no message rather than failing the whole query.
    ...(args.enrollmentId ? { enrollmentId: tryDecodeId('Enrollment', args.enrollmentId) ?? '00000000-0000-0000-0000-000000000000' } : {}),
  };
}

builder.queryFields((t) => ({
  messages: t.prismaConnection(
    {
      type: 'Message',
      cursor: 'id',
      args: { to: t.arg.string(), enrollmentId: t.arg.id() },
      totalCount: (_parent, args, ctx) => ctx.runtime.db.message.count({ where: messageFilter(args, ctx.workspaceId) }),
      resolve: (query, _root, args, ctx) =>
        ctx.runtime.db.message.findMany({ ...query, where: messageFilter(args, ctx.workspaceId), orderBy: { id: 'desc' } }),
    },
    MessageConnection,
  ),
}));
