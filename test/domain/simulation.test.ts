// The pure simulation (src/domain/simulation.ts) on a virtual clock, without a database.
import { describe, expect, it } from 'vitest';
import { addIsoDuration, parseIsoDuration } from '../../src/domain/iso-duration.js';
import { emptyStartFacts, type StartSequence } from '../../src/domain/run-machine/start.js';
import type { MachineSequence } from '../../src/domain/run-machine/index.js';
import { toMachineSequence } from '../../src/domain/run-machine/from-rows.js';
import { simulate, type Happening, type SimulationInput, type SimulationSequence } from '../../src/domain/simulation.js';

const T0 = new Date('2026-03-02T10:00:00.000Z'); // a Monday
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const at = (ms: number) => new Date(T0.getTime() + ms);

type Settings = Partial<Parameters<typeof toMachineSequence>[0]> & { steps?: MachineSequence['steps'] };

/** A draft's settings as stored (the mapping the engine uses), three steps by default: now, 2 h later, a day later. */
function sequence({ steps, ...settings }: Settings = {}, start: Partial<StartSequence> = {}, stop = { type: 'NONE', value: null as string | null }): SimulationSequence {
  const machine = toMachineSequence(
    { id: 'seq', status: 'DRAFT', sequenceType: 'INTERVAL', dateFieldPath: null, sendWindow: null, transactional: false, primaryReplyAction: 'FINISH', primaryReplyPauseDuration: null, secondaryReplyAction: 'CONTINUE', secondaryReplyPauseDuration: null, throttleCapacity: null, ...settings },
    [0, 2, 24].map((hours, i) => ({ id: `s${i + 1}`, position: i + 1, type: 'EMAIL', delayDays: 0, delayHours: hours, delayMinutes: 0, dateOffsetMinutes: null })),
  );
  return {
    machine: steps ? { ...machine, steps } : machine,
    start: {
      id: 'seq',
      enrollmentMode: 'UNLIMITED',
      enrollmentFieldPath: null,
      triggerEventName: 'signed_up',
      maxActivations: null,
      throttleCapacity: null,
      throttleMaxAddsPerDay: null,
      throttlePaused: false,
      ...start,
    },
    stopCondition: stop,
  };
}

const run = (seq: SimulationSequence, happenings: Happening[] = [], over: Partial<SimulationInput> = {}) =>
  simulate({ sequence: seq, subscriber: { id: 'sub', status: 'ACTIVE' }, startAt: T0, entry: { eventName: 'signed_up', properties: {} }, happenings, ...over });

const brief = (r: ReturnType<typeof simulate>) => r.timeline.map((e) => [e.at.toISOString(), e.outcome, e.position, e.reason]);

describe('simulate', () => {
  it('runs a draft as it would run enabled: each step after its delay, then completed', () => {
    const r = run(sequence());
    expect(brief(r)).toEqual([
      [T0.toISOString(), 'STARTED', null, null],
      [T0.toISOString(), 'SENT', 1, null],
      [at(2 * HOUR).toISOString(), 'SENT', 2, null],
      [at(2 * HOUR + DAY).toISOString(), 'SENT', 3, null],
      [at(2 * HOUR + DAY).toISOString(), 'COMPLETED', null, null],
    ]);
    expect(r).toMatchObject({ finalStatus: 'COMPLETED', endedAt: at(2 * HOUR + DAY), refused: null });
  });

  it('times sends in a Europe/Berlin window across the change to summer time', () => {
    const window = { timezone: 'Europe/Berlin', daysOfWeek: [1, 2, 3, 4, 5], startHour: 9, endHour: 17 };
    // Friday 27 March 2026, 17:30 in Berlin (CET): the window is closed until Monday, after the change on the 29th.
    const r = run(sequence({ sendWindow: window }), [], { startAt: new Date('2026-03-27T16:30:00Z') });
    expect(r.timeline.filter((e) => e.outcome === 'SENT').map((e) => e.at.toISOString())).toEqual([
      '2026-03-30T07:00:00.000Z', // 09:00 CEST
      '2026-03-30T09:00:00.000Z',
      '2026-03-31T09:00:00.000Z',
    ]);
  });

  it('stops at a happening that meets the stop condition, with the condition as the reason', () => {
    const r = run(sequence({}, {}, { type: 'HAS_TAG', value: 'bought' }), [
      { at: at(HOUR), kind: 'TAG_ADDED', tag: 'other' },
      { at: at(3 * HOUR), kind: 'TAG_ADDED', tag: 'bought' },
    ]);
    expect(brief(r).slice(2)).toEqual([
      [at(2 * HOUR).toISOString(), 'SENT', 2, null],
      [at(3 * HOUR).toISOString(), 'STOPPED', null, 'stop condition HAS_TAG: tag bought added'],
    ]);
    expect(r).toMatchObject({ finalStatus: 'STOPPED', endedAt: at(3 * HOUR) });
  });

  it('pauses on a reply with the PAUSE action and finishes when the pause ends', () => {
    const r = run(sequence({ primaryReplyAction: 'PAUSE', primaryReplyPauseDuration: 86_400 }), [{ at: at(HOUR), kind: 'REPLY' }]);
    expect(brief(r).slice(2)).toEqual([
      [at(HOUR).toISOString(), 'PAUSED', null, 'replied'],
      [at(HOUR + DAY).toISOString(), 'COMPLETED', null, 'reply pause ended'],
    ]);
  });

  it('lets a secondary reply with CONTINUE change nothing', () => {
    const r = run(sequence(), [{ at: at(HOUR), kind: 'REPLY', fromPrimary: false }]);
    expect(r.timeline.filter((e) => e.outcome === 'SENT')).toHaveLength(3);
  });

  it('queues a run over the daily limit and releases it at the next UTC midnight', () => {
    const facts = { ...emptyStartFacts(), begunToday: 1, runs: 1 };
    const r = run(sequence({}, { throttleMaxAddsPerDay: 1 }), [], { startFacts: facts });
    expect(brief(r).slice(0, 3)).toEqual([
      [T0.toISOString(), 'QUEUED', null, 'The sequence started 1 runs today: the run waits as QUEUED'],
      ['2026-03-03T00:00:00.000Z', 'STARTED', null, 'released from throttle'],
      ['2026-03-03T00:00:00.000Z', 'SENT', 1, null],
    ]);
  });

  it('waits a further day for runs queued ahead of it', () => {
    const facts = { ...emptyStartFacts(), begunToday: 1, runs: 3 };
    const r = run(sequence({}, { throttleMaxAddsPerDay: 1 }), [], { startFacts: facts, queuedAhead: 1 });
    expect(r.timeline[1]).toMatchObject({ at: new Date('2026-03-04T00:00:00.000Z'), outcome: 'STARTED' });
  });

  it('counts the runs released ahead of it against the capacity', () => {
    // Capacity 3 with 2 in progress, 1 a day: the one queued ahead takes the last room, none frees as far as is known.
    const facts = { ...emptyStartFacts(), begunToday: 1, inProgress: 2 };
    const r = run(sequence({ throttleCapacity: 3 }, { throttleCapacity: 3, throttleMaxAddsPerDay: 1 }), [], { startFacts: facts, queuedAhead: 1 });
    expect(r).toMatchObject({ finalStatus: 'QUEUED', endedAt: null });
  });

  it('stays queued while the capacity is taken', () => {
    const r = run(sequence({ throttleCapacity: 2 }, { throttleCapacity: 2 }), [], { startFacts: { ...emptyStartFacts(), inProgress: 2 } });
    expect(r).toMatchObject({ finalStatus: 'QUEUED', endedAt: null });
    expect(r.timeline.map((e) => e.outcome)).toEqual(['QUEUED']);
  });

  it('ends a marketing run on unsubscribe; a transactional one keeps sending until a bounce', () => {
    const marketing = run(sequence(), [{ at: at(HOUR), kind: 'UNSUBSCRIBE' }]);
    expect(brief(marketing).at(-1)).toEqual([at(HOUR).toISOString(), 'STOPPED', null, 'unsubscribed']);
    const transactional = run(sequence({ transactional: true }), [
      { at: at(HOUR), kind: 'UNSUBSCRIBE' },
      { at: at(3 * HOUR), kind: 'BOUNCE' },
    ]);
    expect(brief(transactional).slice(2)).toEqual([
      [at(2 * HOUR).toISOString(), 'SENT', 2, null],
      [at(3 * HOUR).toISOString(), 'STOPPED', null, 'bounced'],
    ]);
  });

  it('skips emails to a subscriber who had unsubscribed before (the machine’s rule)', () => {
    const r = run(sequence(), [], { subscriber: { id: 'sub', status: 'UNSUBSCRIBED' } });
    expect(r.timeline.map((e) => [e.outcome, e.reason])).toEqual([
      ['STARTED', null],
      ['SKIPPED', 'subscriber is unsubscribed'],
      ['SKIPPED', 'subscriber is unsubscribed'],
      ['SKIPPED', 'subscriber is unsubscribed'],
      ['COMPLETED', null],
    ]);
  });

  it('points later emails at the discount step before them', () => {
    const steps = [
      { id: 'd', position: 1, type: 'CREATE_DISCOUNT', delaySeconds: 0 },
      { id: 'e', position: 2, type: 'EMAIL', delaySeconds: 60 },
    ];
    const r = run(sequence({ steps }));
    expect(r.timeline.filter((e) => e.outcome === 'SENT').map((e) => [e.stepId, e.reason, e.discount])).toEqual([
      ['d', 'discount created', null],
      ['e', null, { stepId: 'd', at: T0 }],
    ]);
  });

  it('takes happenings before timers at the same instant', () => {
    const r = run(sequence({}, {}, { type: 'EVENT_RECEIVED', value: 'bought' }), [{ at: at(2 * HOUR), kind: 'EVENT', event: 'bought' }]);
    expect(r.timeline.map((e) => e.outcome)).toEqual(['STARTED', 'SENT', 'STOPPED']);
  });

  it('answers the START decision’s refusal without a timeline', () => {
    const facts = { ...emptyStartFacts(), ranBefore: new Set(['sub']) };
    const r = run(sequence({}, { enrollmentMode: 'ONE_TIME' }), [], { startFacts: facts });
    expect(r).toMatchObject({ timeline: [], finalStatus: null, refused: { code: 'ONE_TIME' } });
  });

  it('runs a DATE step whose time had passed at the start, not before it (skipped, as the machine says)', () => {
    const steps = [
      { id: 's1', position: 1, type: 'EMAIL', delaySeconds: 0, dateOffsetMinutes: -3 * 24 * 60 },
      { id: 's2', position: 2, type: 'EMAIL', delaySeconds: 0, dateOffsetMinutes: 60 },
    ];
    const r = run(sequence({ sequenceType: 'DATE', dateFieldPath: 'webinar.at', steps }), [], { runDate: at(DAY) });
    expect(brief(r)).toEqual([
      [T0.toISOString(), 'STARTED', null, null],
      [T0.toISOString(), 'SKIPPED', 1, `its time (${at(-2 * DAY).toISOString()}) had passed when the run started`],
      [at(DAY + HOUR).toISOString(), 'SENT', 2, null],
      [at(DAY + HOUR).toISOString(), 'COMPLETED', null, null],
    ]);
  });

  it('fails a DATE run without its date, as the engine does', () => {
    const r = run(sequence({ sequenceType: 'DATE', dateFieldPath: 'webinar.at', steps: [{ id: 's1', position: 1, type: 'EMAIL', delaySeconds: 0, dateOffsetMinutes: -60 }] }));
    expect(r.timeline.map((e) => [e.outcome, e.position])).toEqual([
      ['STARTED', null],
      ['FAILED', 1],
    ]);
    expect(r.finalStatus).toBe('FAILED');
  });
});

describe('ISO 8601 durations', () => {
  it('adds calendar months and fixed days, hours, minutes and seconds', () => {
    const start = new Date('2026-01-31T12:00:00Z');
    expect(addIsoDuration(start, parseIsoDuration('P2DT3H')!)).toEqual(new Date('2026-02-02T15:00:00Z'));
    expect(addIsoDuration(start, parseIsoDuration('PT90M')!)).toEqual(new Date('2026-01-31T13:30:00Z'));
    expect(addIsoDuration(start, parseIsoDuration('P1W')!)).toEqual(new Date('2026-02-07T12:00:00Z'));
    expect(addIsoDuration(new Date('2026-01-15T00:00:00Z'), parseIsoDuration('P1Y1M')!)).toEqual(new Date('2027-02-15T00:00:00Z'));
    expect(addIsoDuration(start, parseIsoDuration('PT1.5S')!)).toEqual(new Date('2026-01-31T12:00:01.500Z'));
  });

  it('refuses what is not a duration', () => {
    for (const bad of ['', 'P', 'PT', '2D', 'P-1D', 'P1.5D', 'P1DT', 'PT1D', 'P1H', 'banana']) expect(parseIsoDuration(bad), bad).toBeNull();
  });
});
