import { describe, expect, it } from 'vitest';
import { dateStepDueAt, lateDateStepReason, runDate, sequenceRunDate, stepDueAt } from '../../src/domain/schedule.js';

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

  it('one rule for both kinds: INTERVAL after the delay from the step before, DATE at the offset from the date', () => {
    const previous = at('2026-12-01T10:00:00Z');
    const step = { delaySeconds: 3600, dateOffsetMinutes: -24 * 60 };
    expect(stepDueAt({ sequenceType: 'INTERVAL', sendWindow: null }, step, previous, null)).toEqual(at('2026-12-01T11:00:00Z'));
    expect(stepDueAt({ sequenceType: 'DATE', sendWindow: null }, step, previous, webinar)).toEqual(at('2026-12-09T17:00:00Z'));
    // No date: due at once, so the step runs and fails with the reason.
    expect(stepDueAt({ sequenceType: 'DATE', sendWindow: null }, step, previous, null)).toEqual(previous);
  });

  it('a step whose time had passed when the run started is late, with the reason; one due exactly then is not', () => {
    const startedAt = at('2026-12-08T12:00:00Z');
    expect(lateDateStepReason(dateStepDueAt(webinar, -7 * 24 * 60, null), startedAt)).toBe(
      'its time (2026-12-03T17:00:00.000Z) had passed when the run started',
    );
    expect(lateDateStepReason(dateStepDueAt(webinar, -24 * 60, null), startedAt)).toBeNull();
    expect(lateDateStepReason(startedAt, startedAt)).toBeNull();
  });

  it('sequenceRunDate: only DATE sequences have a date', () => {
    const event = { webinar: { startsAt: '2026-12-10T17:00:00Z' } };
    expect(sequenceRunDate({ sequenceType: 'DATE', dateFieldPath: 'webinar.startsAt' }, event, {})).toEqual(webinar);
    expect(sequenceRunDate({ sequenceType: 'INTERVAL', dateFieldPath: null }, event, {})).toBeNull();
  });
});
