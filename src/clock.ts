/**
 * The one source of engine time. Everything that decides "when" (delays, send
 * windows, inactivity, throttles) asks this clock, so tests can fix it and a
 * simulation clock can later fast-forward a workspace.
 */
export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };

let current: Clock = systemClock;

export function now(): Date {
  return current.now();
}

/** Replaces the clock; returns a function that restores the previous one. */
export function useClock(clock: Clock): () => void {
  const previous = current;
  current = clock;
  return () => {
    current = previous;
  };
}
