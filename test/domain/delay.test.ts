import { describe, expect, it } from 'vitest';
import { delayInputSchema, delayToSeconds, durationInDays } from '../../src/domain/delay.js';

describe('delayToSeconds', () => {
  it('sums the parts, missing parts count as zero', () => {
    expect(delayToSeconds({ days: 1, hours: 2, minutes: 3 })).toBe(86_400 + 7_200 + 180);
    expect(delayToSeconds({ hours: 1 })).toBe(3_600);
    expect(delayToSeconds({})).toBe(0);
  });
});

describe('durationInDays', () => {
  it('rounds the total up to whole days', () => {
    expect(durationInDays([])).toBe(0);
    expect(durationInDays([{ days: 0 }])).toBe(0);
    expect(durationInDays([{ days: 1 }, { days: 2 }])).toBe(3);
    expect(durationInDays([{ days: 1 }, { minutes: 1 }])).toBe(2);
    expect(durationInDays([{ hours: 12 }, { hours: 12 }])).toBe(1);
  });
});

describe('delayInputSchema', () => {
  it('defaults missing parts to zero', () => {
    expect(delayInputSchema.parse({})).toEqual({ days: 0, hours: 0, minutes: 0 });
    expect(delayInputSchema.parse({ hours: 5 })).toEqual({ days: 0, hours: 5, minutes: 0 });
  });

  it('accepts the upper bounds', () => {
    expect(delayInputSchema.parse({ days: 3650, hours: 8760, minutes: 525_600 })).toEqual({
      days: 3650,
      hours: 8760,
      minutes: 525_600,
    });
  });

  it.each([
    [{ days: -1 }, 'days'],
    [{ hours: 1.5 }, 'hours'],
    [{ minutes: 525_601 }, 'minutes'],
    [{ days: 3651 }, 'days'],
    [{ hours: 8761 }, 'hours'],
    [{ days: '1' }, 'days'],
  ])('rejects %o', (input, field) => {
    const result = delayInputSchema.safeParse(input);
    expect(result.success).toBe(false);
    expect(result.error!.issues[0]!.path).toEqual([field]);
  });
});
