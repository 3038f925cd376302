import { z } from 'zod';

export const delayInputSchema = z.object({
  days: z.int().min(0).max(3650).default(0),
  hours: z.int().min(0).max(8760).default(0),
  minutes: z.int().min(0).max(525_600).default(0),
});

export type DelayInput = z.input<typeof delayInputSchema>;
export type Delay = z.output<typeof delayInputSchema>;

export function delayToSeconds({ days = 0, hours = 0, minutes = 0 }: DelayInput): number {
  return days * 86_400 + hours * 3_600 + minutes * 60;
}

/** Whole days spanned by consecutive delays, rounded up so a partial day counts. */
export function durationInDays(delays: readonly DelayInput[]): number {
  const total = delays.reduce((sum, delay) => sum + delayToSeconds(delay), 0);
  return Math.ceil(total / 86_400);
}
