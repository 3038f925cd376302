import { describe, expect, it } from 'vitest';
import { waitFor } from './wait-for.js';

describe('waitFor', () => {
  it('resolves with the first truthy value the condition returns', async () => {
    let calls = 0;
    const value = await waitFor(async () => (++calls >= 3 ? { calls } : null), { interval: 1 });
    expect(value).toEqual({ calls: 3 });
  });

  it('fails with what was awaited when it never comes', async () => {
    let looks = 0;
    await expect(waitFor(() => (looks++, false), { timeout: 30, interval: 5, message: () => `the thing (looked ${looks} times)` })).rejects.toThrow(
      /^waitFor: the thing \(looked \d+ times\) not met within 30 ms$/,
    );
    expect(looks).toBeGreaterThan(1);
  });

  it('does not swallow an error thrown by the condition', async () => {
    await expect(waitFor(() => { throw new Error('broken check'); })).rejects.toThrow('broken check');
  });
});
