// An email step whose relay refuses the message: before the final attempt nothing
// is recorded and the run stays on its step (the job is retried); the final
// attempt fails the run, recording the step and message as FAILED. A step the
// relay accepts is recorded and moves the run on. Steps are executed directly
// (no workers), as the step job would.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createWorkspaceWithKey } from '../../src/auth/api-keys.js';
import { encodeId } from '../../src/domain/public-id.js';
import { executeStep } from '../../src/engine/execute-step.js';
import { enrollSubscriber } from '../../src/services/runs.js';
import { changeSequenceStatus, createSequence } from '../../src/services/sequences.js';
import type { Caller } from '../../src/auth/actor.js';
import { useTestRuntime } from '../helpers/runtime.js';
import { startSmtpSink } from '../helpers/smtp-sink.js';

const smtp = await startSmtpSink();
afterAll(() => smtp.close());
const { prisma, runtime } = await useTestRuntime({ config: { SMTP_URL: smtp.url, MAIL_FROM: 'Stepwise Test <test@stepwise.test>' } });

let actor: Caller;
let sequence: string;
let steps: string[];
beforeAll(async () => {
  actor = { ...(await createWorkspaceWithKey(prisma, 'Refusal')), runtime };
  const id = await createSequence(actor, {
    name: 'Two emails',
    trigger: 'MANUAL',
    steps: [
      { subject: 'One', blocks: [{ type: 'text', text: 'First.' }] },
      { subject: 'Two', blocks: [{ type: 'text', text: 'Second.' }], delay: { days: 1 } },
    ],
  });
  sequence = encodeId('Sequence', id);
  await changeSequenceStatus(actor, sequence, 'enable');
  steps = (await prisma.step.findMany({ where: { sequenceId: id }, orderBy: { position: 'asc' } })).map((s) => s.id);
});

async function enroll(email: string) {
  const enrollmentId = await enrollSubscriber(actor, { sequenceId: sequence, subscriber: { email } });
  return (await prisma.enrollment.findUniqueOrThrow({ where: { id: enrollmentId } })).id;
}

async function jobsFor(enrollmentId: string, stepId: string) {
  const [{ count }] = await prisma.$queryRaw<[{ count: number }]>`
    SELECT count(*)::int AS count FROM pgboss.job WHERE data->>'enrollmentId' = ${enrollmentId} AND data->>'stepId' = ${stepId}`;
  return count;
}

describe('a relay that refuses the email', () => {
  it('leaves no trace before the final attempt, and fails the run on it', async () => {
    const run = await enroll('refused@example.com');
    smtp.rejectAll = true;
    try {
      await expect(executeStep(runtime, { enrollmentId: run, stepId: steps[0]! }, { finalAttempt: false })).rejects.toThrow();
      expect(await prisma.message.count({ where: { enrollmentId: run } })).toBe(0);
      expect(await prisma.stepRun.count({ where: { enrollmentId: run } })).toBe(0);
      expect(await prisma.enrollment.findUniqueOrThrow({ where: { id: run } })).toMatchObject({ status: 'ACTIVE', currentStepPosition: 1 });
      expect(await jobsFor(run, steps[1]!)).toBe(0);

      expect(await executeStep(runtime, { enrollmentId: run, stepId: steps[0]! }, { finalAttempt: true })).toBe('executed');
    } finally {
      smtp.rejectAll = false;
    }
    const failed = await prisma.enrollment.findUniqueOrThrow({ where: { id: run } });
    expect(failed).toMatchObject({ status: 'FAILED', currentStepPosition: 1, nextTriggerAt: null });
    expect(failed.error).toMatch(/^step 1 failed: /);
    expect(await prisma.stepRun.findMany({ where: { enrollmentId: run }, select: { stepId: true, status: true } })).toEqual([
      { stepId: steps[0], status: 'FAILED' },
    ]);
    expect(await prisma.message.findMany({ where: { enrollmentId: run }, select: { status: true, sentAt: true } })).toEqual([
      { status: 'FAILED', sentAt: null },
    ]);
    // The run did not move on: no job for the second step, no change but the failure.
    expect(await jobsFor(run, steps[1]!)).toBe(0);
    const changes = await prisma.enrollmentChange.findMany({ where: { enrollmentId: run }, orderBy: { seq: 'asc' }, select: { status: true } });
    expect(changes.map((c) => c.status)).toEqual(['ACTIVE', 'FAILED']);
    expect(smtp.messages).toHaveLength(0);
  });

  it('records an accepted email once and moves the run on to its next step', async () => {
    const run = await enroll('accepted@example.com');
    expect(await executeStep(runtime, { enrollmentId: run, stepId: steps[0]! }, { finalAttempt: false })).toBe('executed');
    await smtp.waitFor(1);
    expect(smtp.messages.map((m) => m.messageId)).toEqual([`<${run}.${steps[0]}@stepwise.test>`]);
    expect(await prisma.message.findMany({ where: { enrollmentId: run }, select: { status: true, stepId: true } })).toEqual([
      { status: 'SENT', stepId: steps[0] },
    ]);
    expect(await prisma.enrollment.findUniqueOrThrow({ where: { id: run } })).toMatchObject({ status: 'ACTIVE', currentStepPosition: 2 });
    expect(await jobsFor(run, steps[1]!)).toBe(1);
    // The same job again (a retry after a crash past the commit) finds the step done.
    expect(await executeStep(runtime, { enrollmentId: run, stepId: steps[0]! }, { finalAttempt: false })).toBe('skipped');
    expect(smtp.messages).toHaveLength(1);
  });
});
