// The run state machine, every input in every status, without a database.
import { describe, expect, it } from 'vitest';
import {
  RUN_STATUSES,
  decide,
  freshRun,
  stepDueAt,
  uniformTransition,
  type MachineSequence,
  type RunInput,
  type RunState,
  type RunStatus,
} from '../../src/domain/run-machine/index.js';

const T0 = new Date('2026-03-02T10:00:00.000Z'); // a Monday
const HOUR = 3_600_000;

const sequence = (over: Partial<MachineSequence> = {}): MachineSequence => ({
  id: 'seq',
  status: 'ACTIVE',
  steps: [
    { id: 's1', position: 1, type: 'EMAIL', delaySeconds: 0 },
    { id: 's2', position: 2, type: 'CREATE_DISCOUNT', delaySeconds: 3600 },
    { id: 's3', position: 3, type: 'EMAIL', delaySeconds: 86_400 },
  ],
  sendWindow: null,
  transactional: false,
  primaryReplyAction: 'FINISH',
  primaryReplyPauseSeconds: null,
  secondaryReplyAction: 'CONTINUE',
  secondaryReplyPauseSeconds: null,
  throttleCapacity: null,
  ...over,
});

const run = (over: Partial<RunState> = {}): RunState => ({ ...freshRun('run', T0), currentStepPosition: 1, nextTriggerAt: T0, ...over });
const due = (stepId = 's1', over: Partial<Extract<RunInput, { kind: 'stepDue' }>> = {}): RunInput => ({
  kind: 'stepDue',
  stepId,
  alreadyRun: false,
  subscriberStatus: 'ACTIVE',
  ...over,
});

describe('begin', () => {
  it('points a new run at its first step, due after its delay', () => {
    const d = decide(freshRun('run', T0), sequence(), { kind: 'begin' }, T0);
    expect(d).toMatchObject({ outcome: 'begun', changed: true, changes: [], schedule: { stepId: 's1', at: T0 } });
    expect(d.next).toMatchObject({ status: 'ACTIVE', currentStepPosition: 1, nextTriggerAt: T0 });
  });

  it('completes a run of a sequence without steps', () => {
    const d = decide(freshRun('run', T0), sequence({ steps: [] }), { kind: 'begin' }, T0);
    expect(d).toMatchObject({ outcome: 'completed', schedule: null, changes: [{ previousStatus: 'ACTIVE', status: 'COMPLETED', reason: 'no steps' }] });
    expect(d.next.completedAt).toEqual(T0);
  });

  it('releases a queued run: logged, started now, scheduled', () => {
    const later = new Date(T0.getTime() + HOUR);
    const d = decide({ ...freshRun('run', T0), status: 'QUEUED' }, sequence(), { kind: 'begin' }, later);
    expect(d.changes).toEqual([{ previousStatus: 'QUEUED', status: 'ACTIVE', reason: 'released from throttle' }]);
    expect(d.next).toMatchObject({ status: 'ACTIVE', startedAt: later, currentStepPosition: 1 });
    expect(d.schedule).toEqual({ stepId: 's1', at: later });
  });

  it('releases then completes a queued run with no steps (two changes)', () => {
    const d = decide({ ...freshRun('run', T0), status: 'QUEUED' }, sequence({ steps: [], throttleCapacity: 2 }), { kind: 'begin' }, T0);
    expect(d.changes.map((c) => `${c.previousStatus}>${c.status}`)).toEqual(['QUEUED>ACTIVE', 'ACTIVE>COMPLETED']);
    expect(d.releaseQueued).toBe(true);
  });

  it.each(['PAUSED', 'COMPLETED', 'CANCELLED', 'STOPPED', 'FAILED'] as RunStatus[])('is refused for a %s run', (status) => {
    const d = decide(run({ status }), sequence(), { kind: 'begin' }, T0);
    expect(d).toMatchObject({ outcome: 'refused', code: 'INVALID_TRANSITION', changed: false });
  });
});

describe('a due step', () => {
  it('sends an email step, changing nothing until it is done', () => {
    const d = decide(run(), sequence(), due(), T0);
    expect(d).toMatchObject({ outcome: 'execute', action: { kind: 'send', stepId: 's1' }, changed: false, schedule: null });
  });

  it('issues a discount step', () => {
    const d = decide(run({ currentStepPosition: 2 }), sequence(), due('s2'), T0);
    expect(d.action).toEqual({ kind: 'discount', stepId: 's2' });
  });

  it('defers to the send window, keeping the step', () => {
    // Mondays 14:00–16:00 UTC; it is 10:00.
    const window = { timezone: 'UTC', daysOfWeek: [1], startHour: 14, endHour: 16 };
    const d = decide(run(), sequence({ sendWindow: window }), due(), T0);
    const opening = new Date('2026-03-02T14:00:00.000Z');
    expect(d).toMatchObject({ outcome: 'deferred', action: null, schedule: { stepId: 's1', at: opening } });
    expect(d.next.nextTriggerAt).toEqual(opening);
  });

  it('skips an email to an opted-out subscriber and moves on', () => {
    const d = decide(run(), sequence(), due('s1', { subscriberStatus: 'UNSUBSCRIBED' }), T0);
    expect(d.action).toEqual({ kind: 'skip', stepId: 's1', reason: 'subscriber is unsubscribed' });
    expect(d).toMatchObject({ outcome: 'advanced', schedule: { stepId: 's2', at: new Date(T0.getTime() + HOUR) } });
  });

  it('sends to an opted-out subscriber when the sequence is transactional', () => {
    const d = decide(run(), sequence({ transactional: true }), due('s1', { subscriberStatus: 'BOUNCED' }), T0);
    expect(d.action).toEqual({ kind: 'send', stepId: 's1' });
  });

  it('ignores a stale job: another step, a step already run, a run not active, a sequence disabled', () => {
    expect(decide(run(), sequence(), due('s2'), T0)).toMatchObject({ outcome: 'ignored', reason: 'not the current step' });
    expect(decide(run(), sequence(), due('gone'), T0)).toMatchObject({ outcome: 'ignored', reason: 'not the current step' });
    expect(decide(run(), sequence(), due('s1', { alreadyRun: true }), T0)).toMatchObject({ outcome: 'ignored', reason: 'step already run' });
    expect(decide(run(), sequence({ status: 'PAUSED' }), due(), T0)).toMatchObject({ outcome: 'ignored', reason: 'sequence is paused' });
    for (const status of RUN_STATUSES.filter((s) => s !== 'ACTIVE')) {
      const d = decide(run({ status }), sequence(), due(), T0);
      expect(d).toMatchObject({ outcome: 'ignored', reason: `run is ${status.toLowerCase()}`, changed: false, action: null });
    }
  });
});

describe('a step done or failed', () => {
  it('moves to the next step, due after its delay from now', () => {
    const d = decide(run(), sequence(), { kind: 'stepDone', stepId: 's1' }, T0);
    expect(d.next).toMatchObject({ currentStepPosition: 2, nextTriggerAt: new Date(T0.getTime() + HOUR) });
    expect(d.schedule).toEqual({ stepId: 's2', at: new Date(T0.getTime() + HOUR) });
  });

  it('completes after the last step, still pointing at it', () => {
    const d = decide(run({ currentStepPosition: 3 }), sequence({ throttleCapacity: 5 }), { kind: 'stepDone', stepId: 's3' }, T0);
    expect(d).toMatchObject({ outcome: 'completed', releaseQueued: true, schedule: null });
    expect(d.next).toMatchObject({ status: 'COMPLETED', currentStepPosition: 3, nextTriggerAt: null, completedAt: T0 });
    expect(d.changes).toEqual([{ previousStatus: 'ACTIVE', status: 'COMPLETED', reason: null }]);
  });

  it('does not move a run cancelled while its step was being sent', () => {
    const d = decide(run({ status: 'CANCELLED' }), sequence(), { kind: 'stepDone', stepId: 's1' }, T0);
    expect(d).toMatchObject({ outcome: 'ignored', changed: false, schedule: null });
  });

  it('fails the run with the error, keeping its position', () => {
    const d = decide(run(), sequence(), { kind: 'stepFailed', stepId: 's1', error: 'relay said no' }, T0);
    expect(d.next).toMatchObject({ status: 'FAILED', error: 'step 1 failed: relay said no', failedAt: T0, currentStepPosition: 1, nextTriggerAt: null });
    expect(decide(run({ status: 'STOPPED' }), sequence(), { kind: 'stepFailed', stepId: 's1', error: 'x' }, T0).outcome).toBe('ignored');
  });
});

describe('cancel, stop, pause, resume', () => {
  it.each(['QUEUED', 'ACTIVE', 'PAUSED'] as RunStatus[])('cancels and stops a %s run', (status) => {
    const c = decide(run({ status, pausedUntil: T0 }), sequence(), { kind: 'cancel', reason: 'churned' }, T0);
    expect(c.next).toMatchObject({ status: 'CANCELLED', cancelReason: 'churned', cancelledAt: T0, nextTriggerAt: null, pausedUntil: null });
    const s = decide(run({ status }), sequence(), { kind: 'stop', reason: 'bought' }, T0);
    expect(s.changes).toEqual([{ previousStatus: status, status: 'STOPPED', reason: 'bought' }]);
  });

  it.each(['COMPLETED', 'CANCELLED', 'STOPPED', 'FAILED'] as RunStatus[])('refuses to cancel or stop a %s run', (status) => {
    expect(decide(run({ status }), sequence(), { kind: 'cancel', reason: 'x' }, T0)).toMatchObject({ outcome: 'refused', code: 'ALREADY_ENDED', changed: false });
    expect(decide(run({ status }), sequence(), { kind: 'stop', reason: 'x' }, T0).outcome).toBe('refused');
  });

  it('the bulk transition sets what the single one does', () => {
    const u = uniformTransition({ kind: 'cancel', reason: 'r' }, T0);
    const d = decide(run(), sequence(), { kind: 'cancel', reason: 'r' }, T0);
    expect(u.from).toEqual(['QUEUED', 'ACTIVE', 'PAUSED']);
    for (const [key, value] of Object.entries(u.set)) expect(d.next[key as keyof RunState]).toEqual(value);
  });

  it('pauses only an active run', () => {
    expect(decide(run(), sequence(), { kind: 'pause', reason: 'by hand' }, T0).next).toMatchObject({ status: 'PAUSED', pausedAt: T0 });
    for (const status of RUN_STATUSES.filter((s) => s !== 'ACTIVE')) {
      expect(decide(run({ status }), sequence(), { kind: 'pause', reason: 'x' }, T0)).toMatchObject({
        outcome: 'refused',
        reason: `Only an active run can be paused; this one is ${status.toLowerCase()}`,
      });
    }
  });

  it('resumes a paused run at its step, at once when it fell due meanwhile', () => {
    const later = new Date(T0.getTime() + 5 * HOUR);
    const d = decide(run({ status: 'PAUSED', pausedAt: T0, nextTriggerAt: T0 }), sequence(), { kind: 'resume' }, later);
    expect(d.next).toMatchObject({ status: 'ACTIVE', pausedAt: null, nextTriggerAt: later });
    expect(d.schedule).toEqual({ stepId: 's1', at: later });
    const future = new Date(T0.getTime() + 10 * HOUR);
    expect(decide(run({ status: 'PAUSED', nextTriggerAt: future }), sequence(), { kind: 'resume' }, later).schedule?.at).toEqual(future);
    for (const status of RUN_STATUSES.filter((s) => s !== 'PAUSED')) {
      expect(decide(run({ status }), sequence(), { kind: 'resume' }, T0).outcome).toBe('refused');
    }
  });
});

describe('replies', () => {
  it('FINISH completes an open run', () => {
    for (const status of ['QUEUED', 'ACTIVE', 'PAUSED'] as RunStatus[]) {
      expect(decide(run({ status }), sequence(), { kind: 'reply', primary: true }, T0).next).toMatchObject({ status: 'COMPLETED', completedAt: T0 });
    }
    expect(decide(run({ status: 'COMPLETED' }), sequence(), { kind: 'reply', primary: true }, T0).outcome).toBe('ignored');
  });

  it('PAUSE pauses for the duration with a timer; the timer completes it only if still paused by it', () => {
    const seq = sequence({ primaryReplyAction: 'PAUSE', primaryReplyPauseSeconds: 7200 });
    const d = decide(run(), seq, { kind: 'reply', primary: true }, T0);
    const until = new Date(T0.getTime() + 2 * HOUR);
    expect(d).toMatchObject({ outcome: 'paused', pauseTimeout: until });
    expect(d.next).toMatchObject({ status: 'PAUSED', pausedUntil: until });
    expect(decide(d.next, seq, { kind: 'reply', primary: true }, T0).outcome).toBe('ignored'); // already paused
    expect(decide(d.next, seq, { kind: 'pauseTimeout', pausedUntil: until }, until).next).toMatchObject({ status: 'COMPLETED' });
    expect(decide(d.next, seq, { kind: 'pauseTimeout', pausedUntil: T0 }, until).outcome).toBe('ignored');
    expect(decide(run(), seq, { kind: 'pauseTimeout', pausedUntil: until }, until).outcome).toBe('ignored');
  });

  it('a reply from someone else follows the secondary action', () => {
    const seq = sequence({ secondaryReplyAction: 'PAUSE', secondaryReplyPauseSeconds: 60 });
    expect(decide(run(), seq, { kind: 'reply', primary: false }, T0)).toMatchObject({
      outcome: 'paused',
      reason: 'replied (secondary)',
      pauseTimeout: new Date(T0.getTime() + 60_000),
    });
    expect(decide(run(), sequence(), { kind: 'reply', primary: false }, T0)).toMatchObject({ outcome: 'ignored', reason: 'reply action continue' });
  });

  it('CONTINUE changes nothing', () => {
    expect(decide(run(), sequence({ primaryReplyAction: 'CONTINUE' }), { kind: 'reply', primary: true }, T0)).toMatchObject({ outcome: 'ignored', changed: false });
  });
});

describe('a sequence enabled again', () => {
  it('reschedules an active run waiting on a step, not before now', () => {
    const later = new Date(T0.getTime() + HOUR);
    expect(decide(run(), sequence(), { kind: 'sequenceEnabled' }, later)).toMatchObject({ outcome: 'rescheduled', changed: false, schedule: { stepId: 's1', at: later } });
    expect(decide(run({ status: 'PAUSED' }), sequence(), { kind: 'sequenceEnabled' }, later).schedule).toBeNull();
    expect(decide(run({ currentStepPosition: null }), sequence(), { kind: 'sequenceEnabled' }, later).schedule).toBeNull();
  });
});

describe('due times', () => {
  it('are the delay, pushed into the window (one function)', () => {
    const window = { timezone: 'Europe/Berlin', daysOfWeek: [1, 2, 3, 4, 5], startHour: 9, endHour: 17 };
    // Saturday 12:00 UTC + 1 h -> Monday 09:00 Berlin (08:00 UTC in winter).
    const at = stepDueAt({ id: 's', position: 1, type: 'EMAIL', delaySeconds: 3600 }, new Date('2026-02-28T12:00:00Z'), { sendWindow: window });
    expect(at.toISOString()).toBe('2026-03-02T08:00:00.000Z');
  });
});

describe('removing a subscriber', () => {
  it('cancels and stamps completedAt', () => {
    const d = decide(run(), sequence(), { kind: 'cancel', reason: 'removed from sequence', markCompleted: true }, T0);
    expect(d.next).toMatchObject({ status: 'CANCELLED', completedAt: T0, cancelledAt: T0 });
  });
});

describe('DATE sequences', () => {
  const dated = sequence({
    sequenceType: 'DATE',
    dateFieldPath: 'webinar.startsAt',
    steps: [
      { id: 's1', position: 1, type: 'EMAIL', delaySeconds: 0, dateOffsetMinutes: -24 * 60 },
      { id: 's2', position: 2, type: 'EMAIL', delaySeconds: 0, dateOffsetMinutes: 60 },
    ],
  });
  const webinar = new Date(T0.getTime() + 48 * HOUR);

  it('times each step at its offset from the run date', () => {
    const begun = decide(freshRun('run', T0), dated, { kind: 'begin' }, T0, { runDate: webinar });
    expect(begun.schedule).toEqual({ stepId: 's1', at: new Date(webinar.getTime() - 24 * HOUR) });
    const done = decide(run({ currentStepPosition: 1 }), dated, { kind: 'stepDone', stepId: 's1' }, T0, { runDate: webinar });
    expect(done.schedule).toEqual({ stepId: 's2', at: new Date(webinar.getTime() + HOUR) });
  });

  it('skips a step whose time had passed when the run started', () => {
    const soon = new Date(T0.getTime() + HOUR); // the day-before step was due 23 h before the start
    const d = decide(run(), dated, due(), T0, { runDate: soon });
    expect(d.action).toMatchObject({ kind: 'skip', stepId: 's1' });
    expect(d.schedule).toEqual({ stepId: 's2', at: new Date(soon.getTime() + HOUR) });
  });

  it('fails a run without its date, with the reason', () => {
    const d = decide(run(), dated, due(), T0, { runDate: null });
    expect(d.action).toEqual({ kind: 'fail', stepId: 's1', error: "no date at webinar.startsAt in the entry event or the subscriber's attributes" });
    expect(d.next).toMatchObject({ status: 'FAILED', error: "step 1 failed: no date at webinar.startsAt in the entry event or the subscriber's attributes" });
  });
});
