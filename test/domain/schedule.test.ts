import { describe, expect, it } from 'vitest';
import { dueAt, nextOpening, sendWindowSchema, type SendWindow } from '../../src/domain/schedule.js';

const WEEKDAYS = [1, 2, 3, 4, 5];
const ALL_DAYS = [1, 2, 3, 4, 5, 6, 7];
const ny = (daysOfWeek: number[], startHour: number, endHour: number): SendWindow => ({
  timezone: 'America/New_York',
  daysOfWeek,
  startHour,
  endHour,
});
const at = (iso: string) => new Date(iso);
const iso = (date: Date) => date.toISOString();

describe('nextOpening', () => {
  const office = ny(WEEKDAYS, 9, 17);

  it('returns due unchanged when there is no window', () => {
    const due = at('2025-03-08T12:00:00Z');
    expect(nextOpening(due, null)).toBe(due);
  });

  it('returns due when inside the window', () => {
    const due = at('2025-03-11T14:30:00Z'); // Tue 10:30 EDT
    expect(nextOpening(due, office)).toBe(due);
    const lastMs = at('2025-03-11T20:59:59.999Z'); // 16:59:59.999 EDT
    expect(nextOpening(lastMs, office)).toBe(lastMs);
  });

  it('opens at startHour exactly (inclusive)', () => {
    const due = at('2025-03-11T13:00:00Z'); // Tue 09:00 EDT
    expect(nextOpening(due, office)).toBe(due);
  });

  it('moves a due before startHour to the same day opening', () => {
    expect(iso(nextOpening(at('2025-03-11T10:00:00Z'), office))).toBe('2025-03-11T13:00:00.000Z');
  });

  it('treats endHour as closed', () => {
    // Tue 17:00 EDT → Wed 09:00 EDT
    expect(iso(nextOpening(at('2025-03-11T21:00:00Z'), office))).toBe('2025-03-12T13:00:00.000Z');
  });

  it('skips weekends across the spring-forward change', () => {
    // Fri 7 Mar 18:00 EST → Mon 10 Mar 09:00 EDT (offset changed on Sun 9 Mar)
    expect(iso(nextOpening(at('2025-03-07T23:00:00Z'), office))).toBe('2025-03-10T13:00:00.000Z');
  });

  it('skips weekends across the fall-back change', () => {
    // Sat 1 Nov 12:00 EDT → Mon 3 Nov 09:00 EST
    expect(iso(nextOpening(at('2025-11-01T16:00:00Z'), office))).toBe('2025-11-03T14:00:00.000Z');
  });

  it('opens right after the gap when startHour does not exist that day', () => {
    // Sun 9 Mar 01:00 EST; 02:00 is skipped, so the window opens at 03:00 EDT.
    expect(iso(nextOpening(at('2025-03-09T06:00:00Z'), ny(ALL_DAYS, 2, 4)))).toBe('2025-03-09T07:00:00.000Z');
  });

  it('skips a window that vanishes entirely in the gap', () => {
    // 02:00–03:00 does not exist on 9 Mar → next day 02:00 EDT.
    expect(iso(nextOpening(at('2025-03-09T06:00:00Z'), ny(ALL_DAYS, 2, 3)))).toBe('2025-03-10T06:00:00.000Z');
  });

  it('keeps both occurrences of a repeated hour open on fall-back day', () => {
    const window = ny(ALL_DAYS, 1, 2);
    const first = at('2025-11-02T05:30:00Z'); // 01:30 EDT
    const second = at('2025-11-02T06:30:00Z'); // 01:30 EST
    expect(nextOpening(first, window)).toBe(first);
    expect(nextOpening(second, window)).toBe(second);
    // 00:30 EDT → the first 01:00
    expect(iso(nextOpening(at('2025-11-02T04:30:00Z'), window))).toBe('2025-11-02T05:00:00.000Z');
    // 02:00 EST → next day 01:00 EST
    expect(iso(nextOpening(at('2025-11-02T07:00:00Z'), window))).toBe('2025-11-03T06:00:00.000Z');
  });

  it('handles half-hour offsets (Asia/Kolkata)', () => {
    const window: SendWindow = { timezone: 'Asia/Kolkata', daysOfWeek: WEEKDAYS, startHour: 9, endHour: 18 };
    // Mon 08:30 IST → 09:00 IST
    expect(iso(nextOpening(at('2025-03-10T03:00:00Z'), window))).toBe('2025-03-10T03:30:00.000Z');
    // Mon 17:59 IST → unchanged
    expect(iso(nextOpening(at('2025-03-10T12:29:00Z'), window))).toBe('2025-03-10T12:29:00.000Z');
    // Mon 18:00 IST → Tue 09:00 IST
    expect(iso(nextOpening(at('2025-03-10T12:30:00Z'), window))).toBe('2025-03-11T03:30:00.000Z');
    // Fri 20:00 IST → Mon 09:00 IST
    expect(iso(nextOpening(at('2025-03-14T14:30:00Z'), window))).toBe('2025-03-17T03:30:00.000Z');
  });

  it('supports endHour 24 (open until midnight)', () => {
    const evening = ny(ALL_DAYS, 20, 24);
    const late = at('2025-03-12T03:59:59Z'); // Tue 23:59:59 EDT
    expect(nextOpening(late, evening)).toBe(late);
    // Wed 00:00 EDT → Wed 20:00 EDT
    expect(iso(nextOpening(at('2025-03-12T04:00:00Z'), evening))).toBe('2025-03-13T00:00:00.000Z');
  });

  it('supports the full day', () => {
    const due = at('2025-03-12T04:00:00Z');
    expect(nextOpening(due, ny(ALL_DAYS, 0, 24))).toBe(due);
  });

  it('waits almost a week for a single allowed day', () => {
    // Mon 10 Mar 10:00 EDT, Sundays only → Sun 16 Mar 09:00 EDT
    expect(iso(nextOpening(at('2025-03-10T14:00:00Z'), ny([7], 9, 17)))).toBe('2025-03-16T13:00:00.000Z');
    // Sun 16 Mar 17:00 EDT → the following Sunday
    expect(iso(nextOpening(at('2025-03-16T21:00:00Z'), ny([7], 9, 17)))).toBe('2025-03-23T13:00:00.000Z');
  });

  it('uses the local weekday, not the UTC one', () => {
    // Fri 21:00 EDT is already Saturday in UTC; a Friday-only window is still open until 24:00.
    const due = at('2025-03-15T01:00:00Z');
    expect(nextOpening(due, ny([5], 0, 24))).toBe(due);
  });

  it('rejects windows that can never open', () => {
    expect(() => nextOpening(at('2025-03-10T00:00:00Z'), ny([], 9, 17))).toThrow(RangeError);
    expect(() => nextOpening(at('2025-03-10T00:00:00Z'), ny(ALL_DAYS, 17, 9))).toThrow(RangeError);
  });

  describe('property: result is the earliest in-window instant ≥ due', () => {
    const zones = ['America/New_York', 'Asia/Kolkata', 'Europe/London', 'Australia/Lord_Howe', 'Pacific/Chatham', 'UTC'];
    const localHourAndDay = (date: Date, timeZone: string) => {
      const parts = new Intl.DateTimeFormat('en-US', { timeZone, hourCycle: 'h23', hour: 'numeric', weekday: 'short' }).formatToParts(date);
      const hour = Number(parts.find((p) => p.type === 'hour')!.value);
      const weekday = ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'].indexOf(parts.find((p) => p.type === 'weekday')!.value) + 1;
      return { hour, weekday };
    };
    const inside = (date: Date, w: SendWindow) => {
      const { hour, weekday } = localHourAndDay(date, w.timezone);
      return w.daysOfWeek.includes(weekday) && hour >= w.startHour && hour < w.endHour;
    };

    // 2025 DST changes in the zones above (New York, London, Lord Howe, Chatham).
    const transitions = [
      '2025-03-09T07:00:00Z', '2025-11-02T06:00:00Z',
      '2025-03-30T01:00:00Z', '2025-10-26T01:00:00Z',
      '2025-04-05T15:00:00Z', '2025-10-04T15:30:00Z',
      '2025-04-05T14:00:00Z', '2025-09-27T14:00:00Z',
    ];
    // Deterministic LCG so failures are reproducible.
    let seed = 12345;
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);

    it('holds for random dues and windows', () => {
      for (let i = 0; i < 2000; i += 1) {
        const timezone = zones[Math.floor(random() * zones.length)]!;
        const startHour = Math.floor(random() * 23);
        const endHour = startHour + 1 + Math.floor(random() * (24 - startHour));
        const daysOfWeek = ALL_DAYS.filter(() => random() < 0.5);
        if (daysOfWeek.length === 0) daysOfWeek.push(3);
        const window: SendWindow = { timezone, daysOfWeek, startHour, endHour };
        // Half the dues land within ±36h of a DST change (minute precision), the rest anywhere in 2025.
        const anchor =
          random() < 0.5
            ? Date.parse(transitions[Math.floor(random() * transitions.length)]!) - 36 * 3_600_000
            : Date.UTC(2025, 0, 1);
        const spanMinutes = anchor === Date.UTC(2025, 0, 1) ? 365 * 24 * 60 : 72 * 60;
        const due = new Date(anchor + Math.floor(random() * spanMinutes) * 60_000);

        const result = nextOpening(due, window);
        const label = JSON.stringify({ due: due.toISOString(), window, result: result.toISOString() });
        expect(result.getTime(), label).toBeGreaterThanOrEqual(due.getTime());
        expect(inside(result, window), label).toBe(true);
        if (inside(due, window)) expect(result.getTime(), label).toBe(due.getTime());
        else expect(inside(new Date(result.getTime() - 60_000), window), label).toBe(false);
      }
    });
  });
});

describe('dueAt', () => {
  it('adds the delay then applies the window', () => {
    const previous = at('2025-03-07T15:00:00Z'); // Fri 10:00 EST
    expect(iso(dueAt(previous, 3_600, null))).toBe('2025-03-07T16:00:00.000Z');
    expect(iso(dueAt(previous, 3_600, ny(WEEKDAYS, 9, 17)))).toBe('2025-03-07T16:00:00.000Z');
    // +1 day lands on Saturday → Monday 09:00 EDT
    expect(iso(dueAt(previous, 86_400, ny(WEEKDAYS, 9, 17)))).toBe('2025-03-10T13:00:00.000Z');
  });

  it('treats a zero delay as "now, if open"', () => {
    const previous = at('2025-03-11T14:30:00Z');
    expect(dueAt(previous, 0, ny(WEEKDAYS, 9, 17)).getTime()).toBe(previous.getTime());
  });
});

describe('sendWindowSchema', () => {
  const valid = { timezone: 'Europe/Paris', daysOfWeek: [5, 1, 3], startHour: 9, endHour: 17 };

  it('accepts a valid window and normalizes it', () => {
    expect(sendWindowSchema.parse(valid)).toEqual({ ...valid, daysOfWeek: [1, 3, 5] });
    expect(sendWindowSchema.parse({ ...valid, timezone: ' america/new_york ' }).timezone).toBe('America/New_York');
    expect(sendWindowSchema.parse({ ...valid, timezone: 'UTC', startHour: 0, endHour: 24 }).endHour).toBe(24);
  });

  const rejects = (input: Record<string, unknown>, field: string) => {
    const result = sendWindowSchema.safeParse({ ...valid, ...input });
    expect(result.success).toBe(false);
    expect(result.error!.issues.map((i) => i.path[0])).toContain(field);
  };

  it('rejects unknown time zones', () => {
    rejects({ timezone: 'Mars/Olympus_Mons' }, 'timezone');
    rejects({ timezone: '' }, 'timezone');
    rejects({ timezone: 5 }, 'timezone');
  });

  it('rejects bad days', () => {
    rejects({ daysOfWeek: [] }, 'daysOfWeek');
    rejects({ daysOfWeek: [1, 1] }, 'daysOfWeek');
    rejects({ daysOfWeek: [0] }, 'daysOfWeek');
    rejects({ daysOfWeek: [8] }, 'daysOfWeek');
    rejects({ daysOfWeek: [1.5] }, 'daysOfWeek');
  });

  it('rejects bad hours', () => {
    rejects({ startHour: -1 }, 'startHour');
    rejects({ startHour: 24, endHour: 24 }, 'startHour');
    rejects({ endHour: 25 }, 'endHour');
    rejects({ endHour: 0 }, 'endHour');
    rejects({ startHour: 9, endHour: 9 }, 'endHour');
    rejects({ startHour: 10, endHour: 9 }, 'endHour');
    rejects({ startHour: 9.5 }, 'startHour');
  });
});
