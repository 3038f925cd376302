import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { encodeId } from '../../src/domain/public-id.js';
import { useTrackingEngine } from './setup.js';

const t = await useTrackingEngine();

/** Sequence.stats computed straight from the messages and runs, as the counters must say. */
async function directCount(sequenceId: string) {
  const uuid = (await t.prisma.sequence.findFirstOrThrow({ where: { workspaceId: t.ws.workspaceId, name: sequenceId } })).id;
  const [messages] = await t.prisma.$queryRawUnsafe<Record<string, number>[]>(
    `SELECT count(*) FILTER (WHERE "sentAt" IS NOT NULL)::int AS sent, count(*) FILTER (WHERE "deliveredAt" IS NOT NULL)::int AS delivered,
       count(*) FILTER (WHERE "openedAt" IS NOT NULL)::int AS opened, count(*) FILTER (WHERE "clickedAt" IS NOT NULL)::int AS clicked,
       count(*) FILTER (WHERE "repliedAt" IS NOT NULL)::int AS replied, count(*) FILTER (WHERE "replySentiment" = 'POSITIVE')::int AS "positiveReplies",
       count(*) FILTER (WHERE "replySentiment" = 'NEUTRAL')::int AS "neutralReplies", count(*) FILTER (WHERE "replySentiment" = 'NEGATIVE')::int AS "negativeReplies",
       count(*) FILTER (WHERE "bouncedAt" IS NOT NULL)::int AS bounced, count(*) FILTER (WHERE "unsubscribedAt" IS NOT NULL)::int AS "optedOut",
       count(*) FILTER (WHERE m.status = 'FAILED')::int AS failed
     FROM "Message" m JOIN "Step" s ON s.id = m."stepId" WHERE s."sequenceId" = $1::uuid`,
    uuid,
  );
  const [runs] = await t.prisma.$queryRawUnsafe<Record<string, number>[]>(
    `SELECT count(*)::int AS enrolled, count(*) FILTER (WHERE status = 'ACTIVE')::int AS active, count(*) FILTER (WHERE status = 'COMPLETED')::int AS completed,
       count(*) FILTER (WHERE status = 'CANCELLED')::int AS cancelled, count(*) FILTER (WHERE status = 'STOPPED')::int AS stopped
     FROM "Enrollment" WHERE "sequenceId" = $1::uuid`,
    uuid,
  );
  return { ...messages, ...runs };
}

describe('stats at volume', () => {
  it('equal a direct SQL count after 10,000 messages (several opens and clicks per message count once)', async () => {
    const sequenceId = await t.sequence('volume');
    const steps = await t.prisma.step.findMany({ where: { sequence: { name: 'volume' } }, orderBy: { position: 'asc' } });
    const workspaceId = t.ws.workspaceId;
    await t.prisma.$executeRawUnsafe(
      `INSERT INTO "Message" (id, "workspaceId", "stepId", "to", subject, html, status, "smtpMessageId", "sentAt", "deliveredAt", "openedAt", "clickedAt",
         "bouncedAt", "unsubscribedAt", "repliedAt", "replySentiment")
       SELECT gen_random_uuid(), $1::uuid, CASE WHEN i % 3 = 0 THEN $3::uuid ELSE $2::uuid END, 'p' || i || '@example.com', 'S', '<p>x</p>',
         (CASE WHEN i % 50 = 0 THEN 'FAILED' WHEN i % 11 = 0 THEN 'BOUNCED' WHEN i % 7 = 0 THEN 'CLICKED' WHEN i % 2 = 0 THEN 'OPENED' ELSE 'SENT' END)::"MessageStatus",
         '<bulk-' || i || '@stepwise.test>',
         CASE WHEN i % 50 = 0 THEN NULL ELSE now() END,
         CASE WHEN i % 4 <> 0 AND i % 50 <> 0 THEN now() END,
         CASE WHEN (i % 2 = 0 OR i % 7 = 0) AND i % 50 <> 0 AND i % 11 <> 0 THEN now() END,
         CASE WHEN i % 7 = 0 AND i % 50 <> 0 AND i % 11 <> 0 THEN now() END,
         CASE WHEN i % 11 = 0 AND i % 50 <> 0 THEN now() END,
         CASE WHEN i % 13 = 0 THEN now() END,
         CASE WHEN i % 17 = 0 THEN now() END,
         (CASE i % 51 WHEN 0 THEN 'POSITIVE' WHEN 17 THEN 'NEUTRAL' WHEN 34 THEN 'NEGATIVE' END)::"ReplySentiment"
       FROM generate_series(1, 10000) AS i`,
      workspaceId,
      steps[0]!.id,
      steps[1]!.id,
    );
    // Raw facts: three opens and two clicks for every opened/clicked message.
    await t.prisma.$executeRawUnsafe(
      `INSERT INTO "MessageEvent" (id, "messageId", type)
       SELECT gen_random_uuid(), m.id, kind::"MessageEventType" FROM "Message" m
       CROSS JOIN (VALUES ('OPEN'), ('OPEN'), ('OPEN'), ('CLICK'), ('CLICK')) AS k(kind)
       WHERE m."workspaceId" = $1::uuid AND m."openedAt" IS NOT NULL`,
      workspaceId,
    );
    const [expected] = await t.prisma.$queryRawUnsafe<Record<string, number>[]>(
      `SELECT count(*) FILTER (WHERE "sentAt" IS NOT NULL)::int AS sent, count(*) FILTER (WHERE "deliveredAt" IS NOT NULL)::int AS delivered,
         count(DISTINCT id) FILTER (WHERE "openedAt" IS NOT NULL)::int AS opened, count(*) FILTER (WHERE "clickedAt" IS NOT NULL)::int AS clicked,
         count(*) FILTER (WHERE "repliedAt" IS NOT NULL)::int AS replied, count(*) FILTER (WHERE "replySentiment" = 'POSITIVE')::int AS "positiveReplies",
         count(*) FILTER (WHERE "replySentiment" = 'NEUTRAL')::int AS "neutralReplies", count(*) FILTER (WHERE "replySentiment" = 'NEGATIVE')::int AS "negativeReplies",
         count(*) FILTER (WHERE "bouncedAt" IS NOT NULL)::int AS bounced, count(*) FILTER (WHERE "unsubscribedAt" IS NOT NULL)::int AS "optedOut",
         count(*) FILTER (WHERE status = 'FAILED')::int AS failed
       FROM "Message" WHERE "stepId" IN ($1::uuid, $2::uuid)`,
      steps[0]!.id,
      steps[1]!.id,
    );
    expect(expected!.sent).toBeGreaterThan(9000);
    const stats = await t.stats(sequenceId);
    expect(stats).toMatchObject(expected!);
    expect(stats.opened).toBe(await t.prisma.message.count({ where: { stepId: { in: steps.map((s) => s.id) }, events: { some: { type: 'OPEN' } } } }));

    const stepStats = await t.ws.gql(`query($id: ID!) { sequence(id: $id) { steps { stats { sent opened clicked bounced optedOut } } } }`, { id: sequenceId });
    const perStep = stepStats.data.sequence.steps.map((s: any) => s.stats);
    for (const key of ['sent', 'opened', 'clicked', 'bounced', 'optedOut']) {
      expect(perStep[0][key] + perStep[1][key]).toBe(expected![key]);
    }
  });
});

describe('stats counters', () => {
  it('equal a direct count after real sends, opens, clicks, replies, bounces, and parallel bulk writers', { timeout: 120_000 }, async () => {
    const sequenceId = await t.sequence('mixed');
    const people = Array.from({ length: 6 }, (_, i) => `mixed${i}@example.com`);
    for (const email of people) await t.enroll('mixed', email);
    const mails = await Promise.all(people.map((email) => t.until(async () => t.smtp.messages.find((m) => JSON.stringify(m.to).includes(email)))));
    // Opens (twice for one), clicks, a reply and a bounce through the real endpoints.
    for (const mail of mails.slice(0, 4)) await fetch(t.links(mail.html as string).pixel);
    await fetch(t.links(mails[0]!.html as string).pixel);
    for (const mail of mails.slice(1, 3)) await fetch(t.links(mail.html as string).clicks[0]!, { redirect: 'manual' });
    const sent = await t.prisma.message.findMany({ where: { to: { in: people } }, orderBy: { to: 'asc' } });
    const reply = await t.ws.gql(`mutation($input: RecordReplyInput!) { recordReply(input: $input) { errors { message } } }`, {
      input: { messageId: encodeId('Message', sent[3]!.id), sentiment: 'NEGATIVE' },
    });
    expect(reply.data.recordReply.errors).toEqual([]);
    const bounce = await fetch(`${t.base}/webhooks/delivery`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${t.ws.key}` },
      body: JSON.stringify({ type: 'bounce', messageId: encodeId('Message', sent[5]!.id), bounceType: 'hard' }),
    });
    expect(bounce.status).toBe(200);
    const live = await t.stats(sequenceId);
    expect(live).toEqual(await directCount('mixed'));
    expect(live).toMatchObject({ enrolled: 6, sent: 6, opened: 4, clicked: 2, replied: 1, negativeReplies: 1, bounced: 1 });

    // Bulk writers on their own connections at once (other shards), adding, changing and removing messages and runs.
    const steps = await t.prisma.step.findMany({ where: { sequence: { name: 'mixed' } }, orderBy: { position: 'asc' } });
    const run = await t.prisma.enrollment.findFirstOrThrow({ where: { sequence: { name: 'mixed' } } });
    await t.prisma.$executeRawUnsafe(
      `INSERT INTO "Message" (id, "workspaceId", "stepId", "enrollmentId", "to", subject, html, status, "smtpMessageId", "sentAt")
       SELECT gen_random_uuid(), $1::uuid, CASE WHEN i % 2 = 0 THEN $2::uuid ELSE $3::uuid END, $4::uuid, 'b' || i || '@example.com', 'S', '<p>x</p>',
         'SENT', '<mixed-' || i || '@stepwise.test>', now()
       FROM generate_series(1, 4000) AS i`,
      t.ws.workspaceId, steps[0]!.id, steps[1]!.id, run.id,
    );
    // Each writer owns the messages whose address ends in its digit, so they never wait on each other's messages.
    const writes: [string, string][] = [
      ['0', `UPDATE "Message" SET "openedAt" = now(), status = 'OPENED' WHERE "to" ~ '^b[0-9]*0@'`],
      ['2', `UPDATE "Message" SET "clickedAt" = now(), "openedAt" = now() WHERE "to" ~ '^b[0-9]*2@'`],
      ['3', `UPDATE "Message" SET "bouncedAt" = now(), status = 'BOUNCED' WHERE "to" ~ '^b[0-9]*3@'`],
      ['7', `UPDATE "Message" SET "repliedAt" = now(), "replySentiment" = 'POSITIVE' WHERE "to" ~ '^b[0-9]*7@'`],
      ['9', `UPDATE "Message" SET status = 'FAILED', "sentAt" = NULL WHERE "to" ~ '^b[0-9]*9@'`],
      ['1', `DELETE FROM "Message" WHERE "to" ~ '^b[0-9]*1@'`],
      ['4', `UPDATE "Message" SET "stepId" = NULL WHERE "to" ~ '^b[0-9]*4@'`],
      ['8', `UPDATE "Enrollment" SET status = 'CANCELLED' WHERE id = '${run.id}'`],
    ];
    await Promise.all(
      writes.map(async ([digit, sql]) => {
        const client = new pg.Client({ connectionString: t.url });
        await client.connect();
        try {
          // Two statements in one transaction per writer, so the writers interleave on the counter rows.
          await client.query('BEGIN');
          await client.query(sql);
          await client.query(`UPDATE "Message" SET "unsubscribedAt" = now() WHERE "to" ~ '^b[0-9]*${digit}@' AND "to" < 'b3'`);
          await client.query('COMMIT');
        } finally {
          await client.end();
        }
      }),
    );
    const after = await t.stats(sequenceId);
    expect(after).toEqual(await directCount('mixed'));
    expect(after.cancelled).toBe(1);
    expect(after.sent).toBeGreaterThan(2000);
    // Step.stats likewise, per step.
    const perStep = (await t.ws.gql(`query($id: ID!) { sequence(id: $id) { steps { id stats { sent delivered opened clicked replied bounced optedOut failed } } } }`, { id: sequenceId })).data.sequence.steps;
    for (const [i, step] of steps.entries()) {
      const [direct] = await t.prisma.$queryRawUnsafe<Record<string, number>[]>(
        `SELECT count(*) FILTER (WHERE "sentAt" IS NOT NULL)::int AS sent, count(*) FILTER (WHERE "deliveredAt" IS NOT NULL)::int AS delivered,
           count(*) FILTER (WHERE "openedAt" IS NOT NULL)::int AS opened, count(*) FILTER (WHERE "clickedAt" IS NOT NULL)::int AS clicked,
           count(*) FILTER (WHERE "repliedAt" IS NOT NULL)::int AS replied,
           count(*) FILTER (WHERE "bouncedAt" IS NOT NULL)::int AS bounced, count(*) FILTER (WHERE "unsubscribedAt" IS NOT NULL)::int AS "optedOut",
           count(*) FILTER (WHERE status = 'FAILED')::int AS failed
         FROM "Message" WHERE "stepId" = $1::uuid`,
        step.id,
      );
      expect(perStep[i].stats).toEqual(direct);
    }
    // Counters are split across the writers' shards.
    expect(await t.prisma.stepMessageCount.count({ where: { stepId: steps[0]!.id } })).toBeGreaterThan(1);
  });
});

describe('sequenceStatsChanged', () => {
  it('pushes the stats now, then again when a message is opened', async () => {
    const sequenceId = await t.sequence('live');
    const controller = new AbortController();
    const res = await fetch(`${t.base}/graphql`, {
      method: 'POST',
      signal: controller.signal,
      headers: { 'content-type': 'application/json', accept: 'text/event-stream', authorization: `Bearer ${t.ws.key}` },
      body: JSON.stringify({ query: `subscription($id: ID!) { sequenceStatsChanged(sequenceId: $id) { sent opened clicked } }`, variables: { id: sequenceId } }),
    });
    expect(res.status).toBe(200);
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = '';
    async function next(): Promise<any> {
      for (;;) {
        const end = buffer.indexOf('\n\n');
        if (end >= 0) {
          const event = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const data = event.split('\n').find((l) => l.startsWith('data:'));
          if (data && data.length > 6) return JSON.parse(data.slice(5)).data.sequenceStatsChanged;
          continue;
        }
        const { value, done } = await reader.read();
        if (done) throw new Error('stream ended');
        buffer += value;
      }
    }
    expect(await next()).toEqual({ sent: 0, opened: 0, clicked: 0 });
    await t.enroll('live', 'live@example.com');
    // The run starting is a change too (enrolled, active); the send follows.
    let update = await next();
    while (update.sent === 0) update = await next();
    expect(update.sent).toBe(1);
    const mail = await t.until(async () => t.smtp.messages.find((m) => JSON.stringify(m.to).includes('live@example.com')));
    await fetch(t.links(mail.html as string).pixel);
    update = await next();
    while (update.opened === 0) update = await next();
    expect(update).toEqual({ sent: 1, opened: 1, clicked: 0 });
    controller.abort();
  });

  it('refuses a sequence of another workspace', async () => {
    const other = await t.workspace('Other');
    const sequenceId = await t.sequence('mine');
    const res = await other.gql(`subscription($id: ID!) { sequenceStatsChanged(sequenceId: $id) { sent } }`, { id: sequenceId });
    expect(res.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
  });
});
