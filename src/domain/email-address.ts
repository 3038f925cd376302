import { z } from 'zod';

const MESSAGE = 'must be a valid email address';

/** Canonical form used for storage and uniqueness: trimmed and lowercased. */
export function normalizeEmail(input: string): string {
  return input.trim().toLowerCase();
}

/** Validates and normalizes; the output is already in normalizeEmail() form. */
export const emailSchema = z
  .string({ error: MESSAGE })
  .trim()
  .toLowerCase()
  .pipe(z.email({ error: MESSAGE }));
