import { beforeAll, describe, expect, it } from 'vitest';
import { useTestEngine } from '../helpers/engine.js';
import { drained } from '../helpers/jobs.js';

const t = await useTestEngine();
let ws: Awaited<ReturnType<typeof t.workspace>>;
beforeAll(async () => {
  ws = await t.workspace();
});

const CANCEL = `mutation($input: CancelEnrollmentsInput!) { cancelEnrollments(input: $input) {
  sequenceId dryRun matchedCount cancelledCount hasMore message
  enrollments { enrollmentId subscriberId subscriberEmail status enrollmentKey } errors { field message code } } }`;
const CANCEL_RUNS = `mutation($input: CancelRunsInput!) { cancelRuns(input: $input) { executionIds errors { field message code } } }`;
const RUN = `query($id: ID!) { enrollment(id: $id) { status cancelReason cancelledAt history { status step { position } } } }`;

/** An enabled sequence whose first email waits a day, so runs stay open. */
async function waitingSequence(extra: Record<string, unknown> = {}) {
  const res = await ws.gql(`mutation($input: CreateSequenceInput!) { createSequence(input: $input) { sequence { id slug } errors { message } } }`, {
    input: {
      name: 'Cancellable',
      trigger: 'EVENT_RECEIVED',
      eventName: 'order.placed',
      steps: [{ subject: 'Later', blocks: [{ type: 'text', text: 'x' }], delay: { days: 1 } }],
      ...extra,
    },
  });
  expect(res.data.createSequence.errors).toEqual([]);
  const { id, slug } = res.data.createSequence.sequence;
  await ws.gql(`mutation($id: ID!) { enableSequence(id: $id) { errors { message } } }`, { id });
  return { id: id as string, slug: slug as string };
}

async function enroll(sequenceId: string, email: string, properties: Record<string, unknown>, idempotencyKey?: string) {
  const res = await ws.gql(`mutation($input: EnrollSubscriberInput!) { enrollSubscriber(input: $input) { enrollment { id subscriber { id } } errors { message code } } }`, {
    input: { sequenceId, subscriber: { email }, properties, idempotencyKey },
  });
  expect(res.data.enrollSubscriber.errors).toEqual([]);
  return res.data.enrollSubscriber.enrollment as { id: string; subscriber: { id: string } };
}

const status = async (id: string) => (await ws.gql(RUN, { id })).data.enrollment;

describe('cancelEnrollments by subscriber', () => {
  it('cancels unless dryRun, stores the reason, and leaves other subscribers alone', async () => {
    const seq = await waitingSequence();
    const a = await enroll(seq.id, 'a@x.io', { order: { id: 1 } });
    const b = await enroll(seq.id, 'b@x.io', { order: { id: 2 } });
    const dry = (await ws.gql(CANCEL, { input: { sequenceId: seq.id, subscriberId: a.subscriber.id, dryRun: true } })).data.cancelEnrollments;
    expect(dry).toMatchObject({ dryRun: true, matchedCount: 1, cancelledCount: 0, message: 'Would cancel 1 sequence enrollment.' });
    expect((await status(a.id)).status).toBe('ACTIVE');

    const real = (await ws.gql(CANCEL, { input: { sequenceId: seq.id, subscriberId: a.subscriber.id, reason: 'churned' } })).data.cancelEnrollments;
    expect(real).toMatchObject({
      sequenceId: seq.id, dryRun: false, matchedCount: 1, cancelledCount: 1, hasMore: false, message: 'Cancelled 1 sequence enrollment.', errors: [],
      enrollments: [{ enrollmentId: a.id, subscriberId: a.subscriber.id, subscriberEmail: 'a@x.io', status: 'CANCELLED' }],
    });
    expect(await status(a.id)).toMatchObject({ status: 'CANCELLED', cancelReason: 'churned' });
    expect((await status(b.id)).status).toBe('ACTIVE');
    // Twice is harmless: nothing open is left to match.
    const again = (await ws.gql(CANCEL, { input: { sequenceId: seq.id, subscriberId: a.subscriber.id } })).data.cancelEnrollments;
    expect(again).toMatchObject({ matchedCount: 0, cancelledCount: 0, message: 'Cancelled 0 sequence enrollments.' });
  });
});

describe('cancelEnrollments by entry-event field values', () => {
  it('is a dry run by default, compares values as JSON, honours limit and hasMore', async () => {
    // UNLIMITED, so several runs share a value; enrollmentFieldPath is the default fieldPath.
    const seq = await waitingSequence({ enrollmentFieldPath: 'order.id' });
    const runs = [];
    for (let i = 0; i < 5; i++) runs.push(await enroll(seq.id, `f${i}@x.io`, { order: { id: i < 3 ? 123 : '123' } }));
    const other = await enroll(seq.id, 'other@x.io', { order: { id: 7 } });

    const dry = (await ws.gql(CANCEL, { input: { sequenceId: seq.id, fieldValues: [123], limit: 2 } })).data.cancelEnrollments;
    expect(dry).toMatchObject({ dryRun: true, matchedCount: 3, cancelledCount: 0, hasMore: true, message: 'Would cancel 3 sequence enrollments.' });
    expect(dry.enrollments).toHaveLength(2);
    expect(dry.enrollments[0]).toMatchObject({ status: 'ACTIVE', subscriberEmail: 'f0@x.io' });
    for (const r of runs) expect((await status(r.id)).status).toBe('ACTIVE');

    const strings = (await ws.gql(CANCEL, { input: { sequenceId: seq.id, fieldPath: 'order.id', fieldValues: ['123'], dryRun: false } })).data.cancelEnrollments;
    expect(strings).toMatchObject({ dryRun: false, matchedCount: 2, cancelledCount: 2, message: 'Cancelled 2 sequence enrollments.' });
    expect(strings.enrollments.map((e: any) => e.enrollmentId).sort()).toEqual([runs[3]!.id, runs[4]!.id].sort());

    const numbers = (await ws.gql(CANCEL, { input: { sequenceId: seq.id, fieldValues: [123, 999], dryRun: false, reason: 'order refunded' } })).data.cancelEnrollments;
    expect(numbers.cancelledCount).toBe(3);
    expect(await status(runs[0]!.id)).toMatchObject({ status: 'CANCELLED', cancelReason: 'order refunded' });
    expect((await status(other.id)).status).toBe('ACTIVE');
    // Ended runs are neither matched nor touched.
    const after = (await ws.gql(CANCEL, { input: { sequenceId: seq.id, fieldValues: [123, '123'] } })).data.cancelEnrollments;
    expect(after.matchedCount).toBe(0);
    expect((await status(runs[0]!.id)).cancelReason).toBe('order refunded');
  });

  it('answers bad input with UserErrors', async () => {
    const seq = await waitingSequence();
    const sub = await enroll(seq.id, 'bad@x.io', {});
    const errors = async (input: Record<string, unknown>) =>
      (await ws.gql(CANCEL, { input: { sequenceId: seq.id, ...input } })).data.cancelEnrollments.errors;
    expect(await errors({})).toEqual([{ field: ['input', 'subscriberId'], message: 'subscriberId give exactly one of subscriberId or fieldValues', code: 'VALIDATION' }]);
    expect((await errors({ subscriberId: sub.subscriber.id, fieldValues: [1] }))[0].code).toBe('VALIDATION');
    expect(await errors({ fieldValues: [1] })).toEqual([
      { field: ['input', 'fieldPath'], message: 'fieldPath is required: the sequence has no enrollmentFieldPath', code: 'VALIDATION' },
    ]);
    expect((await errors({ fieldValues: [1], fieldPath: 'a', limit: 1001 }))[0]).toMatchObject({ field: ['input', 'limit'] });
    expect((await errors({ fieldValues: [1], fieldPath: 'a..b' }))[0]).toMatchObject({ field: ['input', 'fieldPath'] });
    const unknown = (await ws.gql(CANCEL, { input: { sequenceId: 'seq_00000000000000000000000000000000', subscriberId: sub.subscriber.id } })).data.cancelEnrollments;
    expect(unknown.errors).toEqual([{ field: ['input', 'sequenceId'], message: 'Sequence not found', code: 'NOT_FOUND' }]);
    expect((await status(sub.id)).status).toBe('ACTIVE');
  });
});

describe('cancelRuns', () => {
  it('requires a filter', async () => {
    const res = (await ws.gql(CANCEL_RUNS, { input: { reason: 'x' } })).data.cancelRuns;
    expect(res).toEqual({
      executionIds: [],
      errors: [{ field: ['input'], message: 'at least one filter is required: executionId, recipients, idempotencyKey, sequenceSlug', code: 'FILTER_REQUIRED' }],
    });
  });

  it('ANDs executionId, recipients, idempotencyKey and sequenceSlug', async () => {
    const one = await waitingSequence({ name: 'Runs one' });
    const two = await waitingSequence({ name: 'Runs two' });
    const a1 = await enroll(one.id, 'r1@x.io', {}, 'key-a');
    const b1 = await enroll(one.id, 'r2@x.io', {}, 'key-b');
    const a2 = await enroll(two.id, 'r1@x.io', {}, 'key-a');
    const c2 = await enroll(two.id, 'r3@x.io', {});

    const none = (await ws.gql(CANCEL_RUNS, { input: { recipients: ['r3@x.io'], sequenceSlug: one.slug } })).data.cancelRuns;
    expect(none).toEqual({ executionIds: [], errors: [] });
    const byKeyAndSlug = (await ws.gql(CANCEL_RUNS, { input: { idempotencyKey: 'key-a', sequenceSlug: two.slug } })).data.cancelRuns;
    expect(byKeyAndSlug.executionIds).toEqual([a2.id]);
    const byRecipient = (await ws.gql(CANCEL_RUNS, { input: { recipients: ['R1@x.io', b1.subscriber.id] } })).data.cancelRuns;
    expect(byRecipient.executionIds.sort()).toEqual([a1.id, b1.id].sort());
    const byExecution = (await ws.gql(CANCEL_RUNS, { input: { executionId: c2.id, recipients: ['r3@x.io'] } })).data.cancelRuns;
    expect(byExecution.executionIds).toEqual([c2.id]);
    expect((await ws.gql(CANCEL_RUNS, { input: { executionId: c2.id } })).data.cancelRuns.executionIds).toEqual([]);
    // Another workspace's filters never reach these runs.
    const other = await t.workspace('other');
    const stranger = (await other.gql(CANCEL_RUNS, { input: { recipients: ['r1@x.io', 'r2@x.io', 'r3@x.io'] } })).data.cancelRuns;
    expect(stranger.executionIds).toEqual([]);
  });
});

describe('cancelling while a step is being sent', () => {
  it('either records the email as sent before the cancel, or never sends it', async () => {
    const res = await ws.gql(`mutation($input: CreateSequenceInput!) { createSequence(input: $input) { sequence { id } } }`, {
      input: {
        name: 'Race',
        trigger: 'MANUAL',
        steps: [
          { subject: 'Race one', blocks: [{ type: 'text', text: '1' }] },
          { subject: 'Race two', blocks: [{ type: 'text', text: '2' }] },
        ],
      },
    });
    const seqId = res.data.createSequence.sequence.id;
    await ws.gql(`mutation($id: ID!) { enableSequence(id: $id) { errors { message } } }`, { id: seqId });
    const before = t.smtp.messages.length;
    t.smtp.delayMs = 1500;
    const arriving = new Promise<void>((resolve) => (t.smtp.onIncoming = resolve));
    const run = await enroll(seqId, 'race@x.io', {});
    await arriving; // the first email is being handed to SMTP, its transaction still open
    const cancelled = (await ws.gql(CANCEL, { input: { sequenceId: seqId, subscriberId: run.subscriber.id } })).data.cancelEnrollments;
    t.smtp.delayMs = 0;
    t.smtp.onIncoming = undefined;
    expect(cancelled.cancelledCount).toBe(1);
    const after = await status(run.id);
    expect(after.status).toBe('CANCELLED');
    // The cancel waited for the send: step 1 is in the history as sent, step 2 never goes out.
    expect(after.history).toEqual([{ status: 'SENT', step: { position: 1 } }]);
    // Step 2's job has been worked (or was never due) before we look for its email.
    await drained(t.prisma);
    const raceMail = t.smtp.messages.slice(before).filter((m) => m.subject?.startsWith('Race'));
    expect(raceMail.map((m) => m.subject)).toEqual(['Race one']);
  });
});
