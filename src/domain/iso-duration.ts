// ISO 8601 durations ("P2DT3H", "PT90M", "P1M") for a simulation's script of
// happenings. Years and months are calendar steps (1 Jan + P1M = 1 Feb), days and
// weeks are 24-hour steps in UTC, like every delay of the engine.
const PATTERN = /^P(?!$)(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?(?:T(?=\d)(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:[.,]\d{1,3})?)S)?)?$/;

export interface IsoDuration {
  years: number;
  months: number;
  /** Weeks, days, hours, minutes and seconds together. */
  milliseconds: number;
}

/** The duration, or null when `text` is not an ISO 8601 duration (no negative or fractional parts except seconds). */
export function parseIsoDuration(text: string): IsoDuration | null {
  const m = PATTERN.exec(text.trim());
  if (!m) return null;
  const n = (i: number) => Number((m[i] ?? '0').replace(',', '.'));
  const milliseconds = (((n(3) * 7 + n(4)) * 24 + n(5)) * 60 + n(6)) * 60_000 + Math.round(n(7) * 1000);
  const duration = { years: n(1), months: n(2), milliseconds };
  return Number.isSafeInteger(duration.years) && Number.isSafeInteger(duration.months) && Number.isSafeInteger(milliseconds) ? duration : null;
}

/** `start` plus the duration, or null when the result is not a valid date. */
export function addIsoDuration(start: Date, duration: IsoDuration): Date | null {
  const at = new Date(start.getTime());
  if (duration.years || duration.months) at.setUTCMonth(at.getUTCMonth() + duration.years * 12 + duration.months);
  const result = new Date(at.getTime() + duration.milliseconds);
  return Number.isFinite(result.getTime()) ? result : null;
}
