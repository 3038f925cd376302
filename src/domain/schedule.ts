import { z } from 'zod';
import { getPath } from './json-path.js';

/**
 * When emails may be sent, in the window's own timezone.
 * daysOfWeek: 1 = Monday … 7 = Sunday (ISO). Hours: [startHour, endHour), endHour 24 = midnight.
 */
export interface SendWindow {
  timezone: string;
  daysOfWeek: number[];
  startHour: number;
  endHour: number;
}

/** Canonical IANA name (e.g. `america/new_york` → `America/New_York`), or null if unknown. */
export function canonicalTimeZone(timeZone: string): string | null {
  try {
    return new Intl.DateTimeFormat('en-US', { timeZone }).resolvedOptions().timeZone;
  } catch {
    return null;
  }
}

export const sendWindowSchema = z
  .object({
    timezone: z
      .string()
      .trim()
      .transform((value, ctx) => {
        const canonical = value === '' ? null : canonicalTimeZone(value);
        if (canonical === null) {
          ctx.addIssue({ code: 'custom', message: 'must be an IANA time zone such as "Europe/Paris"' });
          return z.NEVER;
        }
        return canonical;
      }),
    daysOfWeek: z
      .array(z.int().min(1).max(7))
      .min(1, 'must include at least one day')
      .refine((days) => new Set(days).size === days.length, 'must not repeat days')
      .transform((days) => [...days].sort((a, b) => a - b)),
    startHour: z.int().min(0).max(23),
    endHour: z.int().min(1).max(24),
  })
  .refine((w) => w.startHour < w.endHour, {
    message: 'endHour must be after startHour',
    path: ['endHour'],
  }) satisfies z.ZodType<SendWindow, unknown>;

interface LocalDateTime {
  year: number;
  month: number; // 1-12
  day: number;
  hour: number;
  minute: number;
  second: number;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatterFor(timeZone: string): Intl.DateTimeFormat {
  let formatter = formatters.get(timeZone);
  if (!formatter) {
    formatter = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    formatters.set(timeZone, formatter);
  }
  return formatter;
}

function localParts(instantMs: number, timeZone: string): LocalDateTime {
  const parts: Record<string, number> = {};
  for (const part of formatterFor(timeZone).formatToParts(instantMs)) {
    if (part.type !== 'literal') parts[part.type] = Number(part.value);
  }
  return {
    year: parts.year ?? NaN,
    month: parts.month ?? NaN,
    day: parts.day ?? NaN,
    hour: parts.hour ?? NaN,
    minute: parts.minute ?? NaN,
    second: parts.second ?? NaN,
  };
}

/** UTC offset (ms, local minus UTC) in effect at the given instant. */
function offsetAt(instantMs: number, timeZone: string): number {
  const p = localParts(instantMs, timeZone);
  const wall = Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second);
  return wall - Math.floor(instantMs / 1000) * 1000;
}

const HOUR = 3_600_000;

/**
 * Instant at which the wall clock in `timeZone` reads the given local time.
 * Ambiguous times (clocks going back) resolve to the earlier instant; skipped
 * times (clocks going forward) resolve to the moment after the gap, i.e. the
 * earliest instant at which the local clock has passed that time.
 */
function zonedTimeToUtc(year: number, month: number, day: number, hour: number, timeZone: string): number {
  const key = `${timeZone}|${year}-${month}-${day}T${hour}`;
  let instant = zonedTimes.get(key);
  if (instant === undefined) {
    instant = computeZonedTime(Date.UTC(year, month - 1, day, hour), timeZone);
    // Bounded: a long-running worker meets a few hundred (zone, day, hour) triples a day.
    if (zonedTimes.size >= 50_000) zonedTimes.clear();
    zonedTimes.set(key, instant);
  }
  return instant;
}

/**
 * Window openings and closings, by zone and local day and hour: each costs several
 * Intl look-ups, and every due step (and every simulated one) asks for the same few
 * days again. Time zone rules do not change while the process runs.
 */
const zonedTimes = new Map<string, number>();

function computeZonedTime(wallMs: number, timeZone: string): number {
  // Real offsets lie within ±14h, so the offsets just before and after cover every candidate.
  const before = offsetAt(wallMs - 14 * HOUR, timeZone);
  const after = offsetAt(wallMs + 14 * HOUR, timeZone);
  const near = offsetAt(wallMs - offsetAt(wallMs, timeZone), timeZone);
  const valid = [before, after, near]
    .map((offset) => wallMs - offset)
    .filter((candidate) => wallMs - offsetAt(candidate, timeZone) === candidate);
  if (valid.length > 0) return Math.min(...valid);
  // In a gap: applying the pre-transition offset lands just past the gap.
  return wallMs - before;
}

/** ISO weekday (1 = Monday … 7 = Sunday) of a calendar date. */
function isoWeekday(year: number, month: number, day: number): number {
  const weekday = new Date(Date.UTC(year, month - 1, day)).getUTCDay();
  return weekday === 0 ? 7 : weekday;
}

/**
 * `due` if it falls inside the window, else the earliest later instant at which
 * the window opens. A null window means "any time".
 */
export function nextOpening(due: Date, window: SendWindow | null): Date {
  if (window === null) return due;
  const { timezone, daysOfWeek, startHour, endHour } = window;
  if (daysOfWeek.length === 0 || startHour >= endHour) {
    throw new RangeError('Send window never opens');
  }
  const dueMs = due.getTime();
  const today = localParts(dueMs, timezone);
  // Start a day early: around DST changes at midnight yesterday's window can still be open.
  for (let offset = -1; offset <= 15; offset += 1) {
    const date = new Date(Date.UTC(today.year, today.month - 1, today.day + offset));
    const y = date.getUTCFullYear();
    const m = date.getUTCMonth() + 1;
    const d = date.getUTCDate();
    if (!daysOfWeek.includes(isoWeekday(y, m, d))) continue;
    const opens = zonedTimeToUtc(y, m, d, startHour, timezone);
    const closes = zonedTimeToUtc(y, m, d, endHour, timezone); // hour 24 rolls to next midnight
    if (closes > opens && dueMs < closes) return dueMs >= opens ? due : new Date(opens);
  }
  throw new RangeError('Send window never opens');
}

/** When a step after `previous` should send: after the delay, then pushed into the window. */
export function dueAt(previous: Date, delaySeconds: number, window: SendWindow | null): Date {
  return nextOpening(new Date(previous.getTime() + delaySeconds * 1000), window);
}

// ---------------------------------------------------------------------------
// DATE sequences (Outreach's sequenceType DATE): every step is timed from one date
// of the run, at an offset before or after it, instead of after the step before.

/**
 * The date a DATE run times its steps from: the value at `path` in the entry
 * event, else in the subscriber's attributes. An ISO 8601 string or epoch
 * milliseconds; anything else (missing, unparseable) is no date.
 */
export function runDate(path: string, entryEvent: unknown, attributes: unknown): Date | null {
  for (const source of [entryEvent, attributes]) {
    const value = getPath(source, path);
    const date = typeof value === 'string' && /^\d{4}-\d{2}-\d{2}/.test(value) ? new Date(value) : typeof value === 'number' ? new Date(value) : null;
    if (date && Number.isFinite(date.getTime())) return date;
  }
  return null;
}

/** The run's date when the sequence is a DATE sequence, else null (INTERVAL sequences have none). */
export function sequenceRunDate(
  sequence: { sequenceType: string; dateFieldPath: string | null },
  entryEvent: unknown,
  attributes: unknown,
): Date | null {
  return sequence.sequenceType === 'DATE' && sequence.dateFieldPath ? runDate(sequence.dateFieldPath, entryEvent, attributes) : null;
}

/** When a DATE step falls due: `offsetMinutes` after the run's date (negative: before), pushed into the window. */
export function dateStepDueAt(date: Date, offsetMinutes: number, window: SendWindow | null): Date {
  return nextOpening(new Date(date.getTime() + offsetMinutes * 60_000), window);
}

/**
 * When a step falls due: for INTERVAL sequences `delaySeconds` after `previous`
 * (the run's start or the step before); for DATE sequences at the step's offset
 * from the run's `date` (`previous` when the run has no date, so the step runs now
 * and fails with the reason). Either way pushed into the send window.
 */
export function stepDueAt(
  sequence: { sequenceType: 'INTERVAL' | 'DATE' | (string & {}); sendWindow: SendWindow | null },
  step: { delaySeconds: number; dateOffsetMinutes: number | null },
  previous: Date,
  date: Date | null,
): Date {
  if (sequence.sequenceType !== 'DATE') return dueAt(previous, step.delaySeconds, sequence.sendWindow);
  if (date === null) return previous;
  return dateStepDueAt(date, step.dateOffsetMinutes ?? 0, sequence.sendWindow);
}

/** A DATE step whose time had already passed when the run started is skipped: the reason, or null. */
export function lateDateStepReason(due: Date, startedAt: Date): string | null {
  return due < startedAt ? `its time (${due.toISOString()}) had passed when the run started` : null;
}
