// What steers runs once they exist: throttles and limits, the send window,
// replies, pausing by hand, disabling the sequence, opted-out subscribers, and
// discount steps.
import { beforeAll, describe, expect, it } from 'vitest';
import { tryDecodeId } from '../../src/domain/public-id.js';
import { releaseQueued as releaseAll } from '../../src/engine/release-queued.js';
import { useTestEngine } from '../helpers/engine.js';
import { DAY, HOUR, advanceAndSettle, email, engineApi, settle } from './support.js';

const t = await useTestEngine();
let api: ReturnType<typeof engineApi>;
beforeAll(async () => {
  api = engineApi(t, await t.workspace());
});

/** Starts one run per address (in this order, one call each); returns the run IDs. */
async function startRuns(event: string, addresses: string[]): Promise<string[]> {
  const ids: string[] = [];
  for (const address of addresses) {
    const { enrollments } = await api.track({ email: address, event });
    expect(enrollments).toHaveLength(1);
    ids.push(enrollments[0]!.id);
  }
  return ids;
}

/** Releases the queued runs of one sequence (by public ID), as the scheduled release does. */
const releaseQueued = (sequenceId: string) => releaseAll(t.runtime, tryDecodeId('Sequence', sequenceId)!);

const statuses = async (ids: string[]) => Promise.all(ids.map(async (id) => (await api.run(id)).status));

describe('throttles and limits', () => {
  it('throttleMaxAddsPerDay queues runs past the daily limit and starts them oldest first when the day rolls over', async () => {
    const seq = await api.sequence({
      name: 'Daily',
      trigger: 'EVENT_RECEIVED',
      eventName: 'daily.go',
      throttleMaxAddsPerDay: 2,
      steps: [email('Daily'), email('Daily later', { days: 30 })],
    });
    const who = ['d1', 'd2', 'd3', 'd4', 'd5'].map((n) => `${n}@throttle.test`);
    const ids = await startRuns('daily.go', who);
    expect(await statuses(ids)).toEqual(['ACTIVE', 'ACTIVE', 'QUEUED', 'QUEUED', 'QUEUED']);
    const queuedRun = await api.run(ids[2]!);
    expect(queuedRun.history).toEqual([]);
    expect(queuedRun.nextTriggerAt).toBeNull();

    // Same day: releasing starts nothing.
    expect(await releaseQueued(seq)).toBe(0);
    await settle(t);
    expect(who.map((w) => api.mailTo(w).length)).toEqual([1, 1, 0, 0, 0]);

    // Next day: two more, the oldest first.
    await t.advance(DAY);
    expect(await releaseQueued(seq)).toBe(2);
    await settle(t);
    expect(who.map((w) => api.mailTo(w).length)).toEqual([1, 1, 1, 1, 0]);
    expect(await statuses(ids)).toEqual(['ACTIVE', 'ACTIVE', 'ACTIVE', 'ACTIVE', 'QUEUED']);

    await t.advance(DAY);
    expect(await releaseQueued(seq)).toBe(1);
    await api.waitForMail(who[4]!, 1);
    expect(await statuses(ids)).toEqual(['ACTIVE', 'ACTIVE', 'ACTIVE', 'ACTIVE', 'ACTIVE']);
  });

  it('throttleCapacity holds runs as QUEUED while that many are in progress, and starts the oldest when one ends', async () => {
    const seq = await api.sequence({
      name: 'Capacity',
      trigger: 'EVENT_RECEIVED',
      eventName: 'cap.go',
      throttleCapacity: 2,
      steps: [email('Cap 1'), email('Cap 2', { days: 1 })],
    });
    const who = ['c1', 'c2', 'c3', 'c4'].map((n) => `${n}@throttle.test`);
    const ids = await startRuns('cap.go', who);
    expect(await statuses(ids)).toEqual(['ACTIVE', 'ACTIVE', 'QUEUED', 'QUEUED']);
    await settle(t);
    expect(await releaseQueued(seq)).toBe(0); // still full
    expect(who.map((w) => api.mailTo(w).length)).toEqual([1, 1, 0, 0]);

    // A paused run still holds its place; a cancelled one frees it (the release runs on its own).
    expect((await api.pause(ids[0]!)).errors).toEqual([]);
    expect(await releaseQueued(seq)).toBe(0);
    expect((await api.remove({ sequenceId: seq, email: who[0] })).errors).toEqual([]);
    await api.runWithStatus(ids[2]!, 'ACTIVE');
    expect((await api.run(ids[3]!)).status).toBe('QUEUED');
    await api.waitForMail(who[2]!, 1);

    // c2 completes after a day: c4 starts.
    await advanceAndSettle(t, DAY + 60_000);
    await api.runWithStatus(ids[1]!, 'COMPLETED');
    await api.runWithStatus(ids[3]!, 'ACTIVE');
    await api.waitForMail(who[3]!, 1);
    expect(who.map((w) => api.mailTo(w).length)).toEqual([1, 2, 2, 1]);
  });

  it('throttlePaused holds every new start until it is lifted', async () => {
    const seq = await api.sequence({ name: 'Held', trigger: 'EVENT_RECEIVED', eventName: 'held.go', steps: [email('Held')] });
    await api.update(seq, { throttlePaused: true });
    const who = ['h1', 'h2'].map((n) => `${n}@throttle.test`);
    const ids = await startRuns('held.go', who);
    expect(await statuses(ids)).toEqual(['QUEUED', 'QUEUED']);
    expect(await releaseQueued(seq)).toBe(0);
    await settle(t);
    expect(who.map((w) => api.mailTo(w).length)).toEqual([0, 0]);

    await api.update(seq, { throttlePaused: false });
    await api.waitForMail(who[0]!, 1);
    await api.waitForMail(who[1]!, 1);
    await api.runWithStatus(ids[0]!, 'COMPLETED');
    await api.runWithStatus(ids[1]!, 'COMPLETED');
  });

  it('maxActivations refuses runs past it with a clear reason', async () => {
    const seq = await api.sequence({ name: 'Limited', trigger: 'EVENT_RECEIVED', eventName: 'lim.go', maxActivations: 2, steps: [email('Limited')] });
    await startRuns('lim.go', ['m1@throttle.test', 'm2@throttle.test']);
    expect((await api.track({ email: 'm3@throttle.test', event: 'lim.go' })).enrollments).toEqual([]);
    const refused = await api.enrollRaw({ sequenceId: seq, subscriber: { email: 'm4@throttle.test' } });
    expect(refused.enrollment).toBeNull();
    expect(refused.errors).toEqual([
      { field: ['input', 'sequenceId'], message: 'The sequence reached its maximum of 2 runs', code: 'MAX_ACTIVATIONS' },
    ]);
    expect(await t.prisma.subscriber.count({ where: { email: 'm4@throttle.test' } })).toBe(0);
    expect((await api.runs(seq)).map((r) => r.subscriber.email).sort()).toEqual(['m1@throttle.test', 'm2@throttle.test']);
    await settle(t);
    expect(api.mailTo('m3@throttle.test')).toEqual([]);
  });
});

describe('send window', () => {
  it('a step due outside the window waits for its next opening in the window timezone', async () => {
    // Asia/Kolkata is UTC+05:30 all year: a one-hour window starting three hours from now, local time.
    const offset = 5.5 * HOUR;
    const nowMs = t.clock.now().getTime();
    const localHour = new Date(nowMs + offset).getUTCHours();
    const startHour = (localHour + 3) % 24;
    let opening = Math.floor((nowMs + offset) / DAY) * DAY + startHour * HOUR - offset;
    if (opening <= nowMs) opening += DAY;

    await api.sequence({
      name: 'Office hours',
      trigger: 'EVENT_RECEIVED',
      eventName: 'window.go',
      sendWindow: { timezone: 'Asia/Kolkata', daysOfWeek: [1, 2, 3, 4, 5, 6, 7], startHour, endHour: startHour + 1 },
      steps: [email('In the window'), email('Two hours later', { hours: 2 })],
    });
    const [run] = (await api.track({ email: 'win@window.test', event: 'window.go' })).enrollments;
    expect(run!.nextTriggerAt).toBe(new Date(opening).toISOString());
    await settle(t);
    expect(api.mailTo('win@window.test')).toEqual([]);

    // Just before the opening: still nothing.
    await advanceAndSettle(t, opening - t.clock.now().getTime() - 5 * 60_000);
    expect(api.mailTo('win@window.test')).toEqual([]);
    await advanceAndSettle(t, 6 * 60_000);
    await api.waitForMail('win@window.test', 1);

    // Two hours after the first send the window is closed: the next opening is a day later.
    const waiting = await api.runWhere(run!.id, (r) => r.currentStepPosition === 2);
    expect(waiting.nextTriggerAt).toBe(new Date(opening + DAY).toISOString());
    await advanceAndSettle(t, 3 * HOUR);
    expect(api.mailTo('win@window.test')).toHaveLength(1);
    await advanceAndSettle(t, opening + DAY - t.clock.now().getTime() + 60_000);
    const [, second] = await api.waitForMail('win@window.test', 2);
    expect(second!.subject).toBe('Two hours later');
    const done = await api.runWithStatus(run!.id, 'COMPLETED');
    // Each email went out inside the window.
    for (const h of done.history) {
      const local = new Date(new Date(h.executedAt!).getTime() + offset).getUTCHours();
      expect(local).toBe(startHour);
    }
  });
});

describe('replies', () => {
  const replySequence = (action: string, extra: Record<string, unknown> = {}) =>
    api.sequence({
      name: `Reply ${action}`,
      trigger: 'EVENT_RECEIVED',
      eventName: `reply.${action.toLowerCase()}`,
      primaryReplyAction: action,
      ...extra,
      steps: [email(`${action} 1`), email(`${action} 2`, { days: 1 })],
    });

  /** Starts a run, waits for its first email, and returns the run and that email's message ID. */
  async function firstEmail(action: string, address: string) {
    const [run] = (await api.track({ email: address, event: `reply.${action.toLowerCase()}` })).enrollments;
    const sent = await api.runWhere(run!.id, (r) => r.currentStepPosition === 2 && r.history.length === 1);
    return { runId: run!.id, messageId: sent.history[0]!.message!.id };
  }

  it('FINISH completes the run; a reply not from the primary recipient changes nothing', async () => {
    await replySequence('FINISH');
    const { runId, messageId } = await firstEmail('FINISH', 'fin@reply.test');
    const notPrimary = await api.reply({ messageId, fromPrimary: false });
    expect(notPrimary.errors).toEqual([]);
    expect(notPrimary.enrollment.status).toBe('ACTIVE');

    const replied = await api.reply({ messageId, sentiment: 'POSITIVE' });
    expect(replied.errors).toEqual([]);
    expect(replied.enrollment).toMatchObject({ id: runId, status: 'COMPLETED', nextTriggerAt: null });
    expect(await t.prisma.messageEvent.count({ where: { type: 'REPLY' } })).toBeGreaterThanOrEqual(2);
    await advanceAndSettle(t, DAY + 60_000);
    expect(api.mailTo('fin@reply.test').map((m) => m.subject)).toEqual(['FINISH 1']);
  });

  it('CONTINUE lets the run go on', async () => {
    await replySequence('CONTINUE');
    const { runId, messageId } = await firstEmail('CONTINUE', 'con@reply.test');
    const replied = await api.reply({ messageId });
    expect(replied.enrollment.status).toBe('ACTIVE');
    await advanceAndSettle(t, DAY + 60_000);
    expect(api.mailTo('con@reply.test').map((m) => m.subject)).toEqual(['CONTINUE 1', 'CONTINUE 2']);
    await api.runWithStatus(runId, 'COMPLETED');
  });

  it('PAUSE pauses the run for primaryReplyPauseDuration, then finishes it', async () => {
    await replySequence('PAUSE', { primaryReplyPauseDuration: 2 * 3600 });
    const { runId, messageId } = await firstEmail('PAUSE', 'pau@reply.test');
    const replied = await api.reply({ messageId });
    expect(replied.enrollment.status).toBe('PAUSED');

    await advanceAndSettle(t, HOUR);
    expect((await api.run(runId)).status).toBe('PAUSED');
    await advanceAndSettle(t, HOUR + 60_000);
    const done = await api.runWithStatus(runId, 'COMPLETED');
    expect(done.history.map((h) => h.step.position)).toEqual([1]);
    const change = await t.prisma.enrollmentChange.findFirst({ where: { status: 'COMPLETED', subscriberId: { in: (await t.prisma.subscriber.findMany({ where: { email: 'pau@reply.test' }, select: { id: true } })).map((s) => s.id) } } });
    expect(change?.reason).toBe('reply pause ended');
    await advanceAndSettle(t, DAY);
    expect(api.mailTo('pau@reply.test').map((m) => m.subject)).toEqual(['PAUSE 1']);
  });
});

describe('pauseEnrollment and resumeEnrollment', () => {
  const threeEmails = (name: string) => [email(`${name} 1`), email(`${name} 2`, { days: 1 }), email(`${name} 3`, { days: 1 })];

  it('a paused run sends nothing; resumed, it continues from its next step (once, at once if it fell due)', async () => {
    const seq = await api.sequence({ name: 'Pausable', trigger: 'EVENT_RECEIVED', eventName: 'pause.go', steps: threeEmails('Pausable') });
    const [run] = (await api.track({ email: 'pia@pause.test', event: 'pause.go' })).enrollments;
    await api.runWhere(run!.id, (r) => r.currentStepPosition === 2);

    const paused = await api.pause(run!.id);
    expect(paused.errors).toEqual([]);
    expect(paused.enrollment.status).toBe('PAUSED');
    // Only an active run can be paused, only a paused one resumed.
    expect((await api.pause(run!.id)).errors).toEqual([{ field: ['id'], message: expect.any(String), code: 'INVALID_TRANSITION' }]);

    await advanceAndSettle(t, 3 * DAY);
    expect(api.mailTo('pia@pause.test').map((m) => m.subject)).toEqual(['Pausable 1']);

    const resumed = await api.resume(run!.id);
    expect(resumed.errors).toEqual([]);
    expect(resumed.enrollment.status).toBe('ACTIVE');
    expect((await api.resume(run!.id)).errors).toEqual([{ field: ['id'], message: expect.any(String), code: 'INVALID_TRANSITION' }]);
    await api.waitForMail('pia@pause.test', 2);
    await settle(t);
    // Step 2 fell due while paused: sent once, now; step 3 keeps its delay after it.
    expect(api.mailTo('pia@pause.test').map((m) => m.subject)).toEqual(['Pausable 1', 'Pausable 2']);
    const waiting = await api.runWhere(run!.id, (r) => r.currentStepPosition === 3);
    expect(new Date(waiting.nextTriggerAt!).getTime() - t.clock.now().getTime()).toBeGreaterThan(DAY - 5 * 60_000);

    await advanceAndSettle(t, DAY + 60_000);
    const done = await api.runWithStatus(run!.id, 'COMPLETED');
    expect(done.history.map((h) => [h.step.position, h.status])).toEqual([
      [1, 'SENT'],
      [2, 'SENT'],
      [3, 'SENT'],
    ]);
    expect(api.mailTo('pia@pause.test').map((m) => m.subject)).toEqual(['Pausable 1', 'Pausable 2', 'Pausable 3']);
    expect(await api.runs(seq)).toHaveLength(1);
  });

  it('paused and resumed before the step is due: the step goes out once, on time', async () => {
    await api.sequence({ name: 'Quick pause', trigger: 'EVENT_RECEIVED', eventName: 'qpause.go', steps: threeEmails('Quick') });
    const [run] = (await api.track({ email: 'quin@pause.test', event: 'qpause.go' })).enrollments;
    await api.runWhere(run!.id, (r) => r.currentStepPosition === 2);
    for (let i = 0; i < 3; i++) {
      expect((await api.pause(run!.id)).errors).toEqual([]);
      expect((await api.resume(run!.id)).errors).toEqual([]);
    }
    await settle(t);
    expect(api.mailTo('quin@pause.test')).toHaveLength(1); // step 2 is not due yet
    await advanceAndSettle(t, DAY + 60_000);
    expect(api.mailTo('quin@pause.test').map((m) => m.subject)).toEqual(['Quick 1', 'Quick 2']);
  });
});

describe('disabling and enabling a sequence', () => {
  it('pauses the runs’ timelines; enabling sends the steps that fell due once, then goes on', async () => {
    const seq = await api.sequence({
      name: 'Toggle',
      trigger: 'EVENT_RECEIVED',
      eventName: 'toggle.go',
      steps: [email('Toggle 1'), email('Toggle 2', { days: 1 }), email('Toggle 3', { days: 1 }), email('Toggle 4', { days: 1 })],
    });
    const who = ['ta@toggle.test', 'tb@toggle.test'];
    const subjects = (w: string) => api.mailTo(w).map((m) => m.subject);
    const ids = await startRuns('toggle.go', who);
    for (const id of ids) await api.runWhere(id, (r) => r.currentStepPosition === 2);

    // Toggled off and on before step 2 is due: it still goes out once, on time.
    for (let i = 0; i < 3; i++) {
      await api.disable(seq);
      await api.enable(seq);
    }
    await settle(t);
    for (const w of who) expect(subjects(w)).toEqual(['Toggle 1']);
    await advanceAndSettle(t, DAY + 60_000);
    for (const w of who) expect(subjects(w)).toEqual(['Toggle 1', 'Toggle 2']);

    const disabled = await api.disable(seq);
    expect(disabled.sequence.status).toBe('PAUSED');
    // While disabled nothing is sent, and the trigger starts no runs.
    expect((await api.track({ email: 'tc@toggle.test', event: 'toggle.go' })).enrollments).toEqual([]);
    await advanceAndSettle(t, 3 * DAY);
    for (const w of who) expect(subjects(w)).toEqual(['Toggle 1', 'Toggle 2']);
    expect(await statuses(ids)).toEqual(['ACTIVE', 'ACTIVE']);

    // Steps 3 and 4 both fell due while disabled: step 3 goes out now, once; step 4 a day after it.
    await api.enable(seq);
    for (const w of who) await api.waitForMail(w, 3);
    await settle(t);
    for (const w of who) expect(subjects(w)).toEqual(['Toggle 1', 'Toggle 2', 'Toggle 3']);
    await advanceAndSettle(t, DAY + 60_000);
    for (const w of who) expect(subjects(w)).toEqual(['Toggle 1', 'Toggle 2', 'Toggle 3', 'Toggle 4']);
    for (const id of ids) {
      const done = await api.runWithStatus(id, 'COMPLETED');
      expect(done.history.map((h) => [h.step.position, h.status])).toEqual([
        [1, 'SENT'],
        [2, 'SENT'],
        [3, 'SENT'],
        [4, 'SENT'],
      ]);
    }
    expect(await t.prisma.message.count({ where: { to: { in: who } } })).toBe(8);
    expect(await api.runs(seq)).toHaveLength(2);
  });
});

describe('opted-out subscribers', () => {
  it('get no email (the step is SKIPPED) unless the sequence is transactional', async () => {
    const steps = (name: string) => [email(`${name} 1`), email(`${name} 2`, { days: 1 })];
    const marketing = await api.sequence({ name: 'Marketing', trigger: 'EVENT_RECEIVED', eventName: 'opt.go', steps: steps('Marketing') });
    await api.sequence({ name: 'Receipts', trigger: 'EVENT_RECEIVED', eventName: 'opt.go', transactional: true, steps: steps('Receipt') });

    // Unsubscribed before the run starts.
    const gone = await api.subscriber({ email: 'gone@optout.test' });
    await api.unsubscribe(gone);
    // Unsubscribes after the first email.
    const late = await api.subscriber({ email: 'late@optout.test' });

    const goneRuns = (await api.track({ subscriberId: gone, event: 'opt.go' })).enrollments;
    const lateRuns = (await api.track({ subscriberId: late, event: 'opt.go' })).enrollments;
    const lateMarketing = lateRuns.find((r) => r.sequence.id === marketing)!;
    await api.runWhere(lateMarketing.id, (r) => r.currentStepPosition === 2);
    await settle(t);
    await api.unsubscribe(late);
    await advanceAndSettle(t, DAY + 60_000);

    expect(api.mailTo('gone@optout.test').map((m) => m.subject).sort()).toEqual(['Receipt 1', 'Receipt 2']);
    expect(api.mailTo('late@optout.test').map((m) => m.subject).sort()).toEqual(['Marketing 1', 'Receipt 1', 'Receipt 2']);

    const goneMarketing = await api.runWithStatus(goneRuns.find((r) => r.sequence.id === marketing)!.id, 'COMPLETED');
    expect(goneMarketing.history.map((h) => [h.step.position, h.status, h.error, h.message])).toEqual([
      [1, 'SKIPPED', 'subscriber is unsubscribed', null],
      [2, 'SKIPPED', 'subscriber is unsubscribed', null],
    ]);
    const lateDone = await api.runWithStatus(lateMarketing.id, 'COMPLETED');
    expect(lateDone.history.map((h) => [h.step.position, h.status])).toEqual([
      [1, 'SENT'],
      [2, 'SKIPPED'],
    ]);
    expect(await t.prisma.message.count({ where: { to: 'gone@optout.test', enrollment: { sequence: { transactional: false } } } })).toBe(0);
  });
});

describe('CREATE_DISCOUNT steps', () => {
  it('create a unique code with the prefix that later emails of the run render', async () => {
    const seq = await api.sequence({
      name: 'Win-back offer',
      trigger: 'EVENT_RECEIVED',
      eventName: 'offer.go',
      steps: [
        { type: 'CREATE_DISCOUNT', discount: { discountType: 'percent', percentOff: 20, codePrefix: 'comeback', expiresInHours: 48 } },
        { subject: 'Your code {{discount.code}}', blocks: [{ type: 'text', text: 'Use {{discount.code}} at checkout.' }] },
      ],
    });
    const who = ['dia@discount.test', 'dov@discount.test'];
    const ids = await startRuns('offer.go', who);
    const runs = await Promise.all(ids.map((id) => api.runWithStatus(id, 'COMPLETED')));
    const codes = runs.map((r) => r.discountCode!);
    for (const code of codes) expect(code).toMatch(/^COMEBACK-[A-HJ-NP-Z2-9]{10}$/);
    expect(new Set(codes).size).toBe(2);

    for (const [i, w] of who.entries()) {
      const [mail] = await api.waitForMail(w, 1);
      expect(mail!.subject).toBe(`Your code ${codes[i]}`);
      expect(mail!.text).toContain(`Use ${codes[i]} at checkout.`);
    }
    expect(runs[0]!.history.map((h) => [h.step.type, h.status])).toEqual([
      ['CREATE_DISCOUNT', 'SENT'],
      ['EMAIL', 'SENT'],
    ]);
    const rows = await t.prisma.discount.findMany({ where: { code: { in: codes } }, orderBy: { code: 'asc' } });
    expect(rows).toHaveLength(2);
    for (const row of rows) {
      expect(row).toMatchObject({ provider: 'BUILTIN', discountType: 'percent', percentOff: 20 });
      expect(row.expiresAt!.getTime() - row.createdAt.getTime()).toBe(48 * HOUR);
    }
    expect(await api.runs(seq)).toHaveLength(2);
  });
});
