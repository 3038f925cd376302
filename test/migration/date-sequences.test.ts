// Outreach's DATE sequences through the GraphQL API: steps timed from a date in
// the entry event or the subscriber's attributes, before or after it; steps whose
// time had passed when the run started are skipped with the reason.
import { beforeAll, describe, expect, it } from 'vitest';
import { useTestEngine } from '../helpers/engine.js';
import { DAY, HOUR, advanceAndSettle, engineApi, settle } from '../engine/support.js';

const t = await useTestEngine();
let api: ReturnType<typeof engineApi>;
beforeAll(async () => {
  api = engineApi(t, await t.workspace());
});

const ERRORS = 'errors { field message code }';
const CREATE = `mutation($input: CreateSequenceInput!) { createSequence(input: $input) {
  sequence { id sequenceType dateFieldPath steps { position dateOffset { days hours minutes direction } } } ${ERRORS} } }`;
const mail = (subject: string, dateOffset: Record<string, unknown>) => ({ subject, blocks: [{ type: 'text', text: subject }], dateOffset });
const before = (days: number) => ({ days, direction: 'BEFORE' });
const after = (hours: number) => ({ hours, direction: 'AFTER' });
const iso = (ms: number) => new Date(t.clock.now().getTime() + ms).toISOString();

describe('a webinar reminder sequence (DATE, from the entry event)', () => {
  it('sends each step at its offset from webinar.startsAt and skips the one already past', async () => {
    const created = await api.ws.gql(CREATE, {
      input: {
        name: 'Webinar reminders',
        trigger: 'EVENT_RECEIVED',
        eventName: 'webinar.registered',
        sequenceType: 'DATE',
        dateFieldPath: 'webinar.startsAt',
        steps: [mail('A week to go', before(7)), mail('Tomorrow', before(1)), mail('Thanks for coming', after(1))],
      },
    });
    const { sequence, errors } = created.data.createSequence;
    expect(errors).toEqual([]);
    expect(sequence).toMatchObject({ sequenceType: 'DATE', dateFieldPath: 'webinar.startsAt' });
    expect(sequence.steps.map((s: any) => s.dateOffset)).toEqual([
      { days: 7, hours: 0, minutes: 0, direction: 'BEFORE' },
      { days: 1, hours: 0, minutes: 0, direction: 'BEFORE' },
      { days: 0, hours: 1, minutes: 0, direction: 'AFTER' },
    ]);
    await api.enable(sequence.id);

    const startsAt = iso(3 * DAY);
    const { enrollments } = await api.track({ email: 'wen@date.test', event: 'webinar.registered', properties: { webinar: { startsAt } } });
    const runId = enrollments[0]!.id;
    // The week-before reminder was due four days ago: skipped with the reason; the run waits for "Tomorrow".
    const waiting = await api.runWhere(runId, (r) => r.currentStepPosition === 2);
    expect(waiting.history).toHaveLength(1);
    expect(waiting.history[0]).toMatchObject({ status: 'SKIPPED', step: { position: 1 } });
    expect(waiting.history[0]!.error).toMatch(/^its time \(.+\) had passed when the run started$/);
    expect(waiting.nextTriggerAt).toBe(new Date(Date.parse(startsAt) - DAY).toISOString());
    await settle(t);
    expect(api.mailTo('wen@date.test')).toEqual([]);

    await advanceAndSettle(t, 2 * DAY + 60_000);
    await api.waitForMail('wen@date.test', 1);
    const second = await api.runWhere(runId, (r) => r.currentStepPosition === 3);
    expect(second.nextTriggerAt).toBe(new Date(Date.parse(startsAt) + HOUR).toISOString());
    await advanceAndSettle(t, DAY + HOUR);
    const done = await api.runWithStatus(runId, 'COMPLETED');
    expect(done.history.map((h) => [h.step.position, h.status])).toEqual([
      [1, 'SKIPPED'],
      [2, 'SENT'],
      [3, 'SENT'],
    ]);
    expect(api.mailTo('wen@date.test').map((m) => m.subject)).toEqual(['Tomorrow', 'Thanks for coming']);
  });
});

describe('a renewal notice (DATE, from the subscriber attributes)', () => {
  it('reads subscription.renewsAt from the attributes; a date already past skips every step; no date fails the run', async () => {
    const id = await api.sequence({
      name: 'Renewal notice',
      trigger: 'MANUAL',
      sequenceType: 'DATE',
      dateFieldPath: 'subscription.renewsAt',
      maxActivations: 3,
      steps: [mail('Renews in a week', before(7))],
    });
    const renewsAt = iso(10 * DAY);
    const run = await api.enroll({ sequenceId: id, subscriber: { email: 'ren@date.test', attributes: { subscription: { renewsAt } } } });
    expect(run.nextTriggerAt).toBe(new Date(Date.parse(renewsAt) - 7 * DAY).toISOString());

    const past = await api.enroll({ sequenceId: id, subscriber: { email: 'old@date.test', attributes: { subscription: { renewsAt: iso(-DAY) } } } });
    const completed = await api.runWithStatus(past.id, 'COMPLETED');
    expect(completed.history).toEqual([expect.objectContaining({ status: 'SKIPPED', error: expect.stringContaining('had passed when the run started') })]);

    const none = await api.enroll({ sequenceId: id, subscriber: { email: 'none@date.test' } });
    const failed = await api.runWithStatus(none.id, 'FAILED');
    expect(failed.history[0]!.error).toBe("no date at subscription.renewsAt in the entry event or the subscriber's attributes");

    // maxActivations applies as to any sequence.
    const refused = await api.enrollRaw({ sequenceId: id, subscriber: { email: 'late@date.test' } });
    expect(refused.errors[0].code).toBe('MAX_ACTIVATIONS');

    await advanceAndSettle(t, 3 * DAY + 60_000);
    await api.waitForMail('ren@date.test', 1);
    expect(api.mailTo('old@date.test')).toEqual([]);
  });
});

describe('previewSequence of a DATE sequence', () => {
  it('times each step from the date in the properties', async () => {
    const id = await api.sequence(
      { name: 'Preview date', trigger: 'MANUAL', sequenceType: 'DATE', dateFieldPath: 'webinar.startsAt', steps: [mail('Soon', before(1)), mail('After', after(2))] },
      { enable: false },
    );
    const q = `query($id: ID!, $p: JSON) { previewSequence(sequenceId: $id, properties: $p) { dueAfterSeconds dueAt subject } }`;
    const res = await api.ws.gql(q, { id, p: { webinar: { startsAt: '2027-01-10T17:00:00.000Z' } } });
    expect(res.errors).toBeUndefined();
    expect(res.data.previewSequence).toEqual([
      { dueAfterSeconds: -86_400, dueAt: '2027-01-09T17:00:00.000Z', subject: 'Soon' },
      { dueAfterSeconds: 7200, dueAt: '2027-01-10T19:00:00.000Z', subject: 'After' },
    ]);
    const undated = await api.ws.gql(q, { id, p: {} });
    expect(undated.data.previewSequence.map((p: any) => p.dueAt)).toEqual([null, null]);
  });
});

describe('bad DATE definitions', () => {
  it('are refused with field paths, writing nothing', async () => {
    const cases: [Record<string, unknown>, string[]][] = [
      [{ sequenceType: 'DATE', steps: [mail('x', before(1))] }, ['input', 'dateFieldPath']],
      [{ sequenceType: 'DATE', dateFieldPath: 'a.b', steps: [{ subject: 'x', blocks: [{ type: 'text', text: 'x' }] }] }, ['input', 'steps', '0', 'dateOffset']],
      [{ sequenceType: 'DATE', dateFieldPath: 'a.b', steps: [mail('x', after(1)), mail('y', before(1))] }, ['input', 'steps', '1', 'dateOffset']],
      [{ sequenceType: 'DATE', dateFieldPath: 'a.b', steps: [{ ...mail('x', before(1)), delay: { days: 1 } }] }, ['input', 'steps', '0', 'delay']],
      [{ steps: [mail('x', before(1))] }, ['input', 'steps', '0', 'dateOffset']],
      [{ dateFieldPath: 'a.b' }, ['input', 'dateFieldPath']],
      [{ sequenceType: 'DATE', dateFieldPath: 'not a path!' }, ['input', 'dateFieldPath']],
    ];
    const before_ = await t.prisma.sequence.count();
    for (const [input, field] of cases) {
      const res = await api.ws.gql(CREATE, { input: { name: 'Bad date', trigger: 'MANUAL', ...input } });
      expect(res.errors, JSON.stringify(res.errors)).toBeUndefined();
      expect(res.data.createSequence.sequence).toBeNull();
      expect(res.data.createSequence.errors.map((e: any) => e.field), JSON.stringify(input)).toContainEqual(field);
    }
    expect(await t.prisma.sequence.count()).toBe(before_);
  });

  it('an edit of a DATE sequence keeps its steps timed', async () => {
    const id = await api.sequence({ name: 'Edit date', trigger: 'MANUAL', sequenceType: 'DATE', dateFieldPath: 'a.b', steps: [mail('x', before(1))] }, { enable: false });
    const res = await api.ws.gql(`mutation($id: ID!, $input: UpdateSequenceInput!) { updateSequence(id: $id, input: $input) { sequence { id } ${ERRORS} } }`, {
      id,
      input: { steps: [{ subject: 'y', blocks: [{ type: 'text', text: 'y' }] }] },
    });
    expect(res.data.updateSequence.sequence).toBeNull();
    expect(res.data.updateSequence.errors).toEqual([
      { field: ['input', 'steps', '0', 'dateOffset'], message: 'dateOffset is required in a DATE sequence', code: 'VALIDATION' },
    ]);
  });
});
