// 1,000 runs started at once (1,000 trackEvent calls, many in flight) all
// complete, with exactly one email per run and step: 2,000 messages in the
// database and 2,000 distinct deliveries over SMTP.
import { beforeAll, describe, expect, it } from 'vitest';
import type { Caller } from '../../src/auth/actor.js';
import { encodeId } from '../../src/domain/public-id.js';
import { trackEvent } from '../../src/services/runs.js';
import { changeSequenceStatus, createSequence } from '../../src/services/sequences.js';
import { useTestEngine } from '../helpers/engine.js';

const RUNS = 1_000;
const STEPS = 2;
const IN_FLIGHT = 25;

const t = await useTestEngine({ concurrency: 10 });
let actor: Caller;
let sequenceId: string;

beforeAll(async () => {
  const { workspaceId } = await t.workspace();
  actor = { workspaceId, runtime: t.runtime };
  const id = await createSequence(actor, {
    name: 'Thousand',
    trigger: 'EVENT_RECEIVED',
    eventName: 'signed_up',
    steps: [
      { subject: 'Welcome', blocks: [{ type: 'text', text: 'Hello {{event.n}}' }] },
      { subject: 'Next', blocks: [{ type: 'text', text: 'Again {{event.n}}' }] },
    ],
  });
  sequenceId = id;
  await changeSequenceStatus(actor, encodeId('Sequence', id), 'enable');
});

describe('1,000 runs started at once', () => {
  it('all complete with exactly 1,000 × 2 messages, each delivered once', { timeout: 120_000 }, async () => {
    const emails = Array.from({ length: RUNS }, (_, i) => `user${i}@example.com`);
    const started: string[] = [];
    let next = 0;
    await Promise.all(
      Array.from({ length: IN_FLIGHT }, async () => {
        while (next < emails.length) {
          const i = next++;
          const tracked = await trackEvent(actor, { email: emails[i], event: 'signed_up', properties: { n: i } });
          expect(tracked.enrollmentIds).toHaveLength(1);
          started.push(...tracked.enrollmentIds);
        }
      }),
    );
    expect(new Set(started).size).toBe(RUNS);

    await t.until(
      async () => (await t.prisma.enrollment.count({ where: { sequenceId, status: 'COMPLETED' } })) === RUNS,
      100_000,
    );
    await t.smtp.waitFor(RUNS * STEPS, 10_000);

    const runs = await t.prisma.enrollment.groupBy({ by: ['status'], where: { sequenceId }, _count: true });
    expect(runs).toEqual([{ status: 'COMPLETED', _count: RUNS }]);

    const messages = await t.prisma.message.findMany({
      where: { enrollment: { sequenceId } },
      select: { enrollmentId: true, stepId: true, status: true, smtpMessageId: true, to: true, subject: true },
    });
    expect(messages).toHaveLength(RUNS * STEPS);
    expect(messages.every((m) => m.status === 'SENT')).toBe(true);
    expect(new Set(messages.map((m) => `${m.enrollmentId}:${m.stepId}`)).size).toBe(RUNS * STEPS);
    const stepRuns = await t.prisma.stepRun.count({ where: { enrollment: { sequenceId }, status: 'SENT' } });
    expect(stepRuns).toBe(RUNS * STEPS);

    // Over SMTP: every recorded message arrived, none more than once, none extra.
    const delivered = t.smtp.messages.map((m) => `<${String(m.messageId).replace(/^<|>$/g, '')}>`);
    expect(delivered).toHaveLength(RUNS * STEPS);
    expect(new Set(delivered)).toEqual(new Set(messages.map((m) => m.smtpMessageId)));
    const byRecipient = new Map<string, string[]>();
    for (const m of t.smtp.messages) {
      const to = Array.isArray(m.to) ? m.to[0]!.text : m.to!.text;
      byRecipient.set(to, [...(byRecipient.get(to) ?? []), m.subject ?? '']);
    }
    expect(byRecipient.size).toBe(RUNS);
    for (const email of emails) expect(byRecipient.get(email)?.sort()).toEqual(['Next', 'Welcome']);
  });
});
