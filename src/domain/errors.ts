import type { z } from 'zod';

/**
 * An error caused by the caller's input. The API layer maps these to
 * user-facing `userErrors { message field code }` instead of internal errors.
 */
export class UserError extends Error {
  override name = 'UserError';

  constructor(
    message: string,
    public field: string[] = [],
    public code: string = 'BAD_USER_INPUT',
  ) {
    super(message);
  }
}

/** One UserError per zod issue; `prefix` locates the validated value inside the input. */
export function userErrorsFromZod(error: z.ZodError, prefix: string[] = []): UserError[] {
  return error.issues.map(
    (issue) =>
      new UserError(
        issue.message,
        [...prefix, ...issue.path.map((segment) => String(segment))],
        'VALIDATION',
      ),
  );
}

/** e.g. `notFound('Sequence', ['id'])` → "Sequence not found" with code NOT_FOUND. */
export function notFound(what: string, field: string[]): UserError {
  return new UserError(`${what} not found`, field, 'NOT_FOUND');
}
