// The load generator shared by the HTTP ceiling and the engine: GraphQL calls over
// real HTTP on loopback, a fixed number of calls with a fixed number in flight,
// each call's latency kept. The same code drives both endpoints.
import { performance } from 'node:perf_hooks';

export interface DriveOptions {
  endpoint: string;
  headers?: Record<string, string>;
  document: string;
  calls: number;
  inFlight: number;
  variables: (i: number) => Record<string, unknown>;
  /** How many runs a call's `data` reports started (throws on a call that failed). */
  count: (data: any) => number;
}

export interface DriveResult {
  seconds: number;
  counted: number;
  latencies: number[];
  perSecond: number;
}

/** One GraphQL call over HTTP: its latency and the runs it reports (throws on a failed call). */
async function timedCall(options: Pick<DriveOptions, 'endpoint' | 'headers' | 'document' | 'variables' | 'count'>, i: number) {
  const t0 = performance.now();
  const response = await fetch(options.endpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...options.headers },
    body: JSON.stringify({ query: options.document, variables: options.variables(i) }),
  });
  const body = (await response.json()) as { data?: unknown; errors?: unknown[] };
  const ms = performance.now() - t0;
  if (response.status !== 200 || body.errors) throw new Error(`call ${i}: HTTP ${response.status} ${JSON.stringify(body.errors)}`);
  return { ms, count: options.count(body.data) };
}

export async function drive(options: DriveOptions): Promise<DriveResult> {
  const latencies: number[] = [];
  let next = 0;
  let counted = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: options.inFlight }, async () => {
      while (next < options.calls) {
        const i = next++;
        const { ms, count } = await timedCall(options, i);
        latencies.push(ms);
        counted += count;
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  return { seconds, counted, latencies, perSecond: counted / seconds };
}

/** The q-quantile (0..1) of ascending values. */
export function quantile(sorted: number[], q: number): number {
  if (!sorted.length) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

/** The trackEvent document and variables, as the engine and the HTTP ceiling both take them. */
export const TRACK_EVENT = `mutation($input: TrackEventInput!) { trackEvent(input: $input) { enrollments { id } errors { message } } }`;

export function trackEventVariables(prefix: string, event: string) {
  return (i: number) => ({ input: { email: `${prefix}${i}@example.com`, event, properties: { plan: i % 2 ? 'pro' : 'free', n: i } } });
}

export function countTracked(data: any): number {
  const payload = data.trackEvent;
  if (payload.errors?.length) throw new Error(`trackEvent: ${JSON.stringify(payload.errors)}`);
  return payload.enrollments.length;
}

/**
 * Open-loop load: calls started at a fixed rate for `seconds` (not waiting for
 * answers, up to `maxInFlight` open), as traffic arrives in production.
 */
export async function paced(options: Omit<DriveOptions, 'calls' | 'inFlight'> & { rate: number; seconds: number; maxInFlight?: number }): Promise<DriveResult> {
  const total = Math.max(1, Math.round(options.rate * options.seconds));
  const maxInFlight = options.maxInFlight ?? 64;
  const latencies: number[] = [];
  const open = new Set<Promise<void>>();
  let failure: unknown;
  let counted = 0;
  const started = performance.now();
  for (let i = 0; i < total; i++) {
    const at = started + (i / options.rate) * 1000;
    const wait = at - performance.now();
    // Pacing the offered load, not waiting for an outcome.
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    while (open.size >= maxInFlight) await Promise.race(open);
    const call = timedCall(options, i)
      .then(({ ms, count }) => {
        latencies.push(ms);
        counted += count;
      })
      .catch((error: unknown) => void (failure ??= error))
      .finally(() => open.delete(call));
    open.add(call);
    if (failure) break;
  }
  await Promise.all(open);
  if (failure) throw failure;
  const seconds = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  return { seconds, counted, latencies, perSecond: counted / seconds };
}
