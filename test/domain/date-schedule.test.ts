import { describe, expect, it } from 'vitest';
import { dateStepDueAt, planDateSteps, runDate } from '../../src/domain/schedule.js';

const at = (iso: string) => new Date(iso);

describe('runDate', () => {
  it('reads the entry event first, then the subscriber attributes', () => {
    expect(runDate('webinar.startsAt', { webinar: { startsAt: '2026-12-10T17:00:00Z' } }, { webinar: { startsAt: '2027-01-01T00:00:00Z' } })).toEqual(
      at('2026-12-10T17:00:00Z'),
    );
    expect(runDate('subscription.renewsAt', {}, { subscription: { renewsAt: '2027-03-01' } })).toEqual(at('2027-03-01T00:00:00Z'));
    expect(runDate('ts', { ts: 1_800_000_000_000 }, null)).toEqual(new Date(1_800_000_000_000));
  });

  it('is null when the value is missing or not a date', () => {
    expect(runDate('webinar.startsAt', {}, {})).toBeNull();
    expect(runDate('webinar.startsAt', { webinar: { startsAt: 'next tuesday' } }, null)).toBeNull();
    expect(runDate('webinar.startsAt', { webinar: { startsAt: '2026-13-45' } }, null)).toBeNull();
    expect(runDate('webinar', { webinar: true }, null)).toBeNull();
  });
});

describe('DATE step timing', () => {
  const webinar = at('2026-12-10T17:00:00Z');

  it('is the date plus the offset, negative for before, pushed into the send window', () => {
    expect(dateStepDueAt(webinar, -24 * 60, null)).toEqual(at('2026-12-09T17:00:00Z'));
    expect(dateStepDueAt(webinar, 60, null)).toEqual(at('2026-12-10T18:00:00Z'));
    const window = { timezone: 'UTC', daysOfWeek: [1, 2, 3, 4, 5], startHour: 9, endHour: 17 };
    expect(dateStepDueAt(webinar, -24 * 60, window)).toEqual(at('2026-12-10T09:00:00Z'));
  });

  it('skips the steps whose time had passed when the run started, with the reason', () => {
    const steps = [
      { id: 'week', position: 1, offsetMinutes: -7 * 24 * 60 },
      { id: 'day', position: 2, offsetMinutes: -24 * 60 },
      { id: 'hour', position: 3, offsetMinutes: -60 },
      { id: 'after', position: 4, offsetMinutes: 120 },
    ];
    const plan = planDateSteps(steps, webinar, at('2026-12-08T12:00:00Z'), null);
    // [step, still ahead]
    expect(plan.map((p) => [p.stepId, p.skip === null])).toEqual([
      ['week', false],
      ['day', true],
      ['hour', true],
      ['after', true],
    ]);
    expect(plan[0]!.skip).toBe('its time (2026-12-03T17:00:00.000Z) had passed when the run started');
    expect(plan[1]).toEqual({ stepId: 'day', position: 2, dueAt: at('2026-12-09T17:00:00Z'), skip: null });
    // A step due exactly at the start is not late.
    expect(planDateSteps([{ id: 'now', position: 1, offsetMinutes: 0 }], webinar, webinar, null)[0]!.skip).toBeNull();
  });
});
