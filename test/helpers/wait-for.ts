// The suite's one way to wait: poll a condition until it holds, or fail with a
// message saying what never happened. Tests wait for the state they then check
// (a row, a job state, a message at the SMTP sink), never for an amount of time.

export interface WaitForOptions {
  /** Give up after this long (ms). */
  timeout?: number;
  /** Time between two looks (ms). */
  interval?: number;
  /** What was awaited, for the error when it never comes (a string, or built at that moment). */
  message?: string | (() => string);
}

/**
 * Resolves with the first truthy value `condition` returns. A condition that
 * throws is a failure, not a "not yet": errors are not swallowed.
 */
export async function waitFor<T>(
  condition: () => T | Promise<T>,
  { timeout = 20_000, interval = 50, message = 'condition' }: WaitForOptions = {},
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeout;
  for (;;) {
    const value = await condition();
    if (value) return value as NonNullable<T>;
    if (Date.now() > deadline) {
      throw new Error(`waitFor: ${typeof message === 'function' ? message() : message} not met within ${timeout} ms`);
    }
    await new Promise((resolve) => setTimeout(resolve, interval));
  }
}
