/**
 * The one source of engine time. Everything that decides "when" (delays, send
 * windows, inactivity, throttles) asks this clock, so tests can fix it and a
 * simulation clock can later fast-forward a workspace.
 */
import { AsyncLocalStorage } from 'node:async_hooks';

export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };

let current: Clock = systemClock;
// A clock for one async call chain: a test clock's advance runs the engine on
// virtual time while live work in the same process keeps the process's clock.
const scoped = new AsyncLocalStorage<Clock>();

export function now(): Date {
  return (scoped.getStore() ?? current).now();
}

/** Runs `fn` (and everything it awaits) on `clock`. */
export function withClock<T>(clock: Clock, fn: () => T): T {
  return scoped.run(clock, fn);
}

/** Replaces the clock; returns a function that restores the previous one. */
export function useClock(clock: Clock): () => void {
  const previous = current;
  current = clock;
  return () => {
    current = previous;
  };
}
