import { describe, expect, it } from 'vitest';
import { useTrackingEngine } from './setup.js';

const t = await useTrackingEngine();

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
