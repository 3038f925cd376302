// Publishing a new version: what happens to each open run, without a database.
import { describe, expect, it } from 'vitest';
import { freshRun, type RunState } from '../../src/domain/run-machine/index.js';
import { nextStepOnPublish, planPublish, summarize, type VersionedSequence, type VersionStep } from '../../src/domain/run-machine/publish.js';

const T0 = new Date('2026-03-02T10:00:00.000Z');
const DAY = 86_400_000;
const at = new Date(T0.getTime() + 3 * DAY);

const step = (origin: string, position: number, delayDays: number, version = 1): VersionStep => ({
  id: `${origin}-v${version}`,
  originId: origin,
  position,
  type: 'EMAIL',
  delaySeconds: delayDays * 86_400,
});

const SETTINGS = { id: 'seq', status: 'ACTIVE', sendWindow: null, transactional: false, throttleCapacity: null } as const;
const REPLIES = { primaryReplyAction: 'FINISH', primaryReplyPauseSeconds: null, secondaryReplyAction: 'CONTINUE', secondaryReplyPauseSeconds: null } as const;
const sequence = (version: number, steps: VersionStep[]): VersionedSequence => ({ ...SETTINGS, ...REPLIES, version, steps });

// v1: a, b (+2 days), c (+2 days), d (+2 days)
const v1 = sequence(1, [step('a', 1, 0), step('b', 2, 2), step('c', 3, 2), step('d', 4, 2)]);
// v2: b removed, c waits 1 day (new content), e added at the end
const v2 = sequence(2, [step('a', 1, 0, 2), step('c', 2, 1, 2), step('d', 3, 2, 2), step('e', 4, 1, 2)]);

const run = (position: number | null, ran: string[], lastStepAt: Date | null, over: Partial<RunState> = {}) => ({
  state: { ...freshRun('r', T0), currentStepPosition: position, nextTriggerAt: lastStepAt && new Date(lastStepAt.getTime() + 2 * DAY), ...over },
  from: v1,
  ranOrigins: new Set(ran),
  lastStepAt,
});

describe('planPublish MOVE', () => {
  it('a run waiting for a removed step goes to the first surviving step after it, timed from its last send with the new delay', () => {
    const sentA = new Date(T0.getTime() + 2.5 * DAY);
    const plan = planPublish(run(2, ['a'], sentA), v2, 'MOVE', at);
    expect(plan).toMatchObject({ outcome: 'MOVED', fromStep: { originId: 'b' }, toStep: { id: 'c-v2', position: 2 }, version: 2 });
    expect(plan.dueAfter).toEqual(new Date(sentA.getTime() + DAY));
    expect(plan.decision.schedule).toEqual({ stepId: 'c-v2', at: plan.dueAfter });
    expect(plan.decision.next).toMatchObject({ currentStepPosition: 2, nextTriggerAt: plan.dueAfter, status: 'ACTIVE' });
    expect(plan.decision.changes).toEqual([]);
  });

  it('a run waiting for a step that still exists waits for it; already due by the new delay: at once', () => {
    const sentB = new Date(at.getTime() - 1.5 * DAY);
    const plan = planPublish(run(3, ['a', 'b'], sentB), v2, 'MOVE', at);
    expect(plan).toMatchObject({ outcome: 'MOVED', fromStep: { originId: 'c' }, toStep: { id: 'c-v2' } });
    expect(plan.dueAfter).toEqual(at);
  });

  it('same step at the same time is UNCHANGED, but still gets the new version and a job for its new row', () => {
    const sentC = new Date(T0.getTime() + 2 * DAY);
    const plan = planPublish(run(4, ['a', 'b', 'c'], sentC), v2, 'MOVE', at);
    expect(plan).toMatchObject({ outcome: 'UNCHANGED', toStep: { id: 'd-v2' }, version: 2 });
    expect(plan.decision.schedule?.stepId).toBe('d-v2');
  });

  it('a new step after the run is sent to it; past the last step, the run completes with the reason', () => {
    expect(nextStepOnPublish(run(4, ['a', 'b', 'c', 'd'], T0), v2)?.id).toBe('e-v2');
    const v3 = sequence(3, [step('a', 1, 0, 3), step('b', 2, 1, 3)]);
    const plan = planPublish(run(3, ['a', 'b', 'c'], T0), v3, 'MOVE', at);
    expect(plan).toMatchObject({ outcome: 'COMPLETED', toStep: null, dueAfter: null, version: 3 });
    expect(plan.decision.next.status).toBe('COMPLETED');
    expect(plan.decision.changes).toEqual([{ previousStatus: 'ACTIVE', status: 'COMPLETED', reason: 'published v3' }]);
  });

  it('new steps inserted before the run are not sent to it', () => {
    const v3 = sequence(3, [step('x', 1, 0, 3), step('a', 2, 0, 3), step('y', 3, 0, 3), step('c', 4, 1, 3)]);
    // waiting for c: x and y come before it
    expect(nextStepOnPublish(run(3, ['a', 'b'], T0), v3)?.originId).toBe('c');
    // waiting for removed b: y goes with a (before the run), so c is next
    expect(nextStepOnPublish(run(2, ['a'], T0), v3)?.originId).toBe('c');
  });

  it('never sends a step the run has a step run for: the step being sent moves the run past it', () => {
    // c claimed and being sent (the run still points at it): the next step is d
    expect(nextStepOnPublish(run(3, ['a', 'b', 'c'], T0), v2)?.originId).toBe('d');
    // a reordered draft puts a passed step after the waited one: nothing before the passed step is sent
    const reordered = sequence(3, [step('a', 1, 0, 3), step('d', 2, 1, 3), step('b', 3, 1, 3), step('c', 4, 1, 3)]);
    const plan = nextStepOnPublish(run(3, ['a', 'b'], T0), reordered);
    expect(plan?.originId).toBe('c');
  });

  it('a paused run moves without a job; a queued run only changes version', () => {
    const paused = planPublish(run(2, ['a'], T0, { status: 'PAUSED' }), v2, 'MOVE', at);
    expect(paused).toMatchObject({ outcome: 'MOVED', toStep: { originId: 'c' } });
    expect(paused.decision.schedule).toBeNull();
    const queued = planPublish(run(null, [], null, { status: 'QUEUED' }), v2, 'MOVE', at);
    expect(queued).toMatchObject({ outcome: 'UNCHANGED', version: 2, decision: { changed: false } });
  });
});

describe('planPublish KEEP and summaries', () => {
  it('KEEP leaves the run on its version, untouched', () => {
    const plan = planPublish(run(2, ['a'], T0), v2, 'KEEP', at);
    expect(plan).toMatchObject({ outcome: 'KEPT', version: 1, toStep: { id: 'b-v1' }, decision: { changed: false, schedule: null } });
  });

  it('counts every outcome and lists the moved and completed runs up to the limit', () => {
    const plans = [
      planPublish(run(2, ['a'], T0), v2, 'MOVE', at),
      planPublish({ ...run(3, ['a', 'b', 'c', 'd'], T0), from: v1 }, sequence(3, [step('a', 1, 0, 3)]), 'MOVE', at),
      planPublish(run(null, [], null, { status: 'QUEUED' }), v2, 'MOVE', at),
      planPublish(run(2, ['a'], T0), v2, 'KEEP', at),
    ];
    const summary = summarize(plans, 1);
    expect(summary).toMatchObject({ movedCount: 1, completedCount: 1, unchangedCount: 1, keptCount: 1, hasMore: true });
    expect(summary.moves.map((m) => m.outcome)).toEqual(['MOVED']);
    expect(summarize(plans, 5).hasMore).toBe(false);
  });
});
