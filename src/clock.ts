/**
 * Engine time. Everything that decides "when" (delays, send windows, inactivity,
 * throttles, timestamps) asks the clock it was handed (the runtime's, or a
 * workspace's own: see src/runtime.ts), never a global, so tests can fix it and a
 * workspace can run on a simulated clock.
 */

export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };

/** A clock standing still at `at` (tests, simulations); `set` moves it. */
export function fixedClock(at: Date | string | number): Clock & { set(next: Date | string | number): void } {
  let current = new Date(at);
  return {
    now: () => new Date(current),
    set(next) {
      current = new Date(next);
    },
  };
}
