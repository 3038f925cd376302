import { describe, expect, it } from 'vitest';
import { encodeId } from '../../src/domain/public-id.js';
import { useTrackingEngine } from './setup.js';

const t = await useTrackingEngine();

async function webhook(body: unknown, auth: string | null = `Bearer ${t.ws.key}`, headers: Record<string, string> = {}) {
  const res = await fetch(`${t.base}/webhooks/delivery`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(auth ? { authorization: auth } : {}), ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as any };
}

async function sentMessage(email: string) {
  return t.until(() => t.prisma.message.findFirst({ where: { to: email, sentAt: { not: null } } }));
}

describe('delivery webhook', () => {
  it('refuses requests without a valid API key and bodies of the wrong shape, recording nothing', async () => {
    await t.sequence('shape');
    await t.enroll('shape', 'nobody@example.com');
    const message = await sentMessage('nobody@example.com');
    const bounce = { type: 'bounce', messageId: encodeId('Message', message.id), bounceType: 'hard' };
    expect((await webhook(bounce, null)).status).toBe(401);
    expect((await webhook(bounce, 'Bearer sk_wrong_key_0000000000000000')).status).toBe(401);
    const other = await t.workspace('Other');
    expect((await webhook(bounce, `Bearer ${other.key}`)).body.results).toEqual([
      { messageId: bounce.messageId, type: 'bounce', outcome: 'unknown-message' },
    ]);
    const bad = await webhook({ type: 'bounce' });
    expect(bad.status).toBe(400);
    expect(bad.body.error).toMatch(/messageId/);
    expect((await webhook('{not json')).status).toBe(400);
    expect((await webhook({ type: 'explode', messageId: 'x' })).status).toBe(400);
    expect(await t.prisma.messageEvent.count({ where: { messageId: message.id } })).toBe(0);
    expect((await t.prisma.subscriber.findFirstOrThrow({ where: { email: 'nobody@example.com' } })).status).toBe('ACTIVE');
  });

  it('feedback that reaches a message while the relay is still taking it (before it is marked SENT) keeps it counted as sent', async () => {
    const sequenceId = await t.sequence('early');
    t.smtp.delayMs = 1500; // the relay holds the hand-off open, so the message stays claimed meanwhile
    try {
      await t.enroll('early', 'early@example.com');
      const claimed = await t.until(() => t.prisma.message.findFirst({ where: { to: 'early@example.com', status: 'QUEUED' } }));
      const delivered = await webhook({ type: 'delivery', messageId: encodeId('Message', claimed.id) });
      expect(delivered.body.results[0].outcome).toBe('recorded');
      const sent = await t.until(() => t.prisma.message.findFirst({ where: { id: claimed.id, sentAt: { not: null } } }));
      expect(sent.status).toBe('DELIVERED');
    } finally {
      t.smtp.delayMs = 0;
    }
    expect(await t.stats(sequenceId)).toMatchObject({ sent: 1, delivered: 1 });
  });

  it('a hard bounce (Stepwise shape) marks the subscriber BOUNCED and stops the run; a soft one does not', async () => {
    const sequenceId = await t.sequence('bounce');
    await t.enroll('bounce', 'gone@example.com');
    const message = await sentMessage('gone@example.com');

    const soft = await webhook({ type: 'bounce', messageId: message.smtpMessageId, bounceType: 'soft', diagnostic: '452 mailbox full' });
    expect(soft.body.results[0].outcome).toBe('recorded');
    expect((await t.prisma.subscriber.findFirstOrThrow({ where: { email: 'gone@example.com' } })).status).toBe('ACTIVE');

    const delivered = await webhook({ type: 'delivery', messageId: encodeId('Message', message.id) });
    expect(delivered.status).toBe(200);
    expect((await t.prisma.message.findUniqueOrThrow({ where: { id: message.id } })).status).toBe('DELIVERED');

    // The Message-ID header without its angle brackets works too.
    const hard = await webhook({ events: [{ type: 'bounce', messageId: message.smtpMessageId.slice(1, -1), bounceType: 'hard', diagnostic: '550 no such user' }] });
    expect(hard.body.results).toEqual([{ messageId: message.smtpMessageId.slice(1, -1), type: 'bounce', outcome: 'recorded' }]);
    const subscriber = await t.prisma.subscriber.findFirstOrThrow({ where: { email: 'gone@example.com' } });
    expect(subscriber.status).toBe('BOUNCED');
    expect(subscriber.bouncedAt).not.toBeNull();
    expect(await t.prisma.message.findUniqueOrThrow({ where: { id: message.id } })).toMatchObject({ status: 'BOUNCED' });
    expect(await t.prisma.enrollment.findFirstOrThrow({ where: { subscriberId: subscriber.id } })).toMatchObject({ status: 'STOPPED', cancelReason: 'bounced' });
    expect(await t.stats(sequenceId)).toMatchObject({ sent: 1, delivered: 1, bounced: 1, stopped: 1, active: 0 });
  });

  it('takes Amazon SES notifications through SNS (bounce and complaint), found by the Message-ID header', async () => {
    const sequenceId = await t.sequence('ses');
    await t.enroll('ses', 'ses-bounce@example.com');
    await t.enroll('ses', 'ses-complaint@example.com');
    const bounced = await sentMessage('ses-bounce@example.com');
    const complained = await sentMessage('ses-complaint@example.com');
    const sns = (message: unknown) => ({
      Type: 'Notification',
      MessageId: '22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324',
      TopicArn: 'arn:aws:sns:us-east-1:123456789012:ses-feedback',
      Message: JSON.stringify(message),
      Timestamp: '2026-11-24T00:00:00.000Z',
    });
    const mail = (smtpMessageId: string, to: string) => ({
      timestamp: '2026-11-24T00:00:00.000Z',
      messageId: '0100018c-ses-internal-id',
      source: 'test@stepwise.test',
      destination: [to],
      headersTruncated: false,
      headers: [
        { name: 'From', value: 'test@stepwise.test' },
        { name: 'Message-ID', value: smtpMessageId },
      ],
      commonHeaders: { messageId: smtpMessageId },
    });
    // SNS cannot send a bearer token: Basic auth with the key as the password.
    const basic = `Basic ${Buffer.from(`sns:${t.ws.key}`).toString('base64')}`;
    const b = await webhook(
      sns({
        notificationType: 'Bounce',
        bounce: { bounceType: 'Permanent', bounceSubType: 'General', bouncedRecipients: [{ emailAddress: 'ses-bounce@example.com', diagnosticCode: 'smtp; 550 5.1.1 user unknown' }] },
        mail: mail(bounced.smtpMessageId, 'ses-bounce@example.com'),
      }),
      basic,
      { 'x-amz-sns-message-type': 'Notification', 'content-type': 'text/plain; charset=UTF-8' },
    );
    expect(b.body.results).toEqual([{ messageId: bounced.smtpMessageId, type: 'bounce', outcome: 'recorded' }]);
    const c = await webhook(
      sns({ notificationType: 'Complaint', complaint: { complaintFeedbackType: 'abuse', complainedRecipients: [{ emailAddress: 'ses-complaint@example.com' }] }, mail: mail(complained.smtpMessageId, 'ses-complaint@example.com') }),
      basic,
    );
    expect(c.body.results[0].outcome).toBe('recorded');
    expect((await t.prisma.subscriber.findFirstOrThrow({ where: { email: 'ses-bounce@example.com' } })).status).toBe('BOUNCED');
    expect((await t.prisma.subscriber.findFirstOrThrow({ where: { email: 'ses-complaint@example.com' } })).status).toBe('UNSUBSCRIBED');
    expect(await t.stats(sequenceId)).toMatchObject({ sent: 2, bounced: 1, optedOut: 1, stopped: 2 });

    const confirm = await webhook({ Type: 'SubscriptionConfirmation', SubscribeURL: 'https://sns.example/confirm?token=1', Message: 'confirm' });
    expect(confirm.body).toMatchObject({ results: [], subscribeUrl: 'https://sns.example/confirm?token=1' });
  });

  it('replies land in the right sentiment counters and apply the reply action', async () => {
    const sequenceId = await t.sequence('replies', { primaryReplyAction: 'FINISH' });
    const people = ['pos', 'neu', 'neg', 'cc'].map((p) => `${p}@example.com`);
    for (const email of people) await t.enroll('replies', email);
    const messages = await Promise.all(people.map(sentMessage));
    const replies = [
      { type: 'reply', messageId: encodeId('Message', messages[0]!.id), sentiment: 'POSITIVE', fromPrimary: true },
      { type: 'reply', messageId: messages[1]!.smtpMessageId, sentiment: 'NEUTRAL' },
      { type: 'reply', messageId: encodeId('Message', messages[2]!.id), sentiment: 'NEGATIVE', fromPrimary: true },
      { type: 'reply', messageId: encodeId('Message', messages[3]!.id), sentiment: 'POSITIVE', fromPrimary: false },
    ];
    const res = await webhook({ events: replies });
    expect(res.body.results.map((r: any) => r.outcome)).toEqual(['recorded', 'recorded', 'recorded', 'recorded']);
    expect(await t.stats(sequenceId)).toMatchObject({ sent: 4, replied: 4, positiveReplies: 2, neutralReplies: 1, negativeReplies: 1, completed: 3, active: 1 });
    const cc = await t.prisma.enrollment.findFirstOrThrow({ where: { subscriber: { email: 'cc@example.com' } } });
    expect(cc.status).toBe('ACTIVE');
  });
});
