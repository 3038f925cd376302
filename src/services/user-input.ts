import type { z } from 'zod';
import { UserError, userErrorsFromZod } from '../domain/errors.js';

/** Several input mistakes reported together, so a client can fix them in one go. */
export class UserErrors extends Error {
  constructor(public errors: UserError[]) {
    super(errors.map((e) => e.message).join('; '));
  }
}

/** Parses with zod; every issue becomes a UserError whose field path starts at `prefix`. */
export function parseInput<S extends z.ZodType>(schema: S, value: unknown, prefix: string[]): z.output<S> {
  const result = schema.safeParse(value);
  if (!result.success) {
    // Rules say "is required for ..."; name the field so the message stands alone.
    const errors = userErrorsFromZod(result.error, prefix).map((e) => {
      const last = e.field.at(-1);
      if (last && /^[a-z]/.test(e.message) && !/^\d+$/.test(last)) e.message = `${last} ${e.message}`;
      return e;
    });
    throw new UserErrors(errors);
  }
  return result.data;
}

/** The UserErrors an error stands for, or null when it is not the caller's mistake. */
export function asUserErrors(error: unknown): UserError[] | null {
  if (error instanceof UserError) return [error];
  if (error instanceof UserErrors) return error.errors;
  return null;
}
