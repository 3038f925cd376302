import { asUserErrors } from '../../services/user-input.js';
import { builder } from '../builder.js';

/** Plain data: graphql-js treats an Error instance returned as a value as a failure. */
export interface UserErrorShape {
  field: string[];
  message: string;
  code: string;
}

export const UserErrorRef = builder.objectRef<UserErrorShape>('UserError').implement({
  description: 'A mistake in the input: which field, what is wrong, and a stable code.',
  fields: (t) => ({
    field: t.stringList({ nullable: true, resolve: (e) => (e.field.length ? e.field : null) }),
    message: t.exposeString('message'),
    code: t.exposeString('code'),
  }),
});

/**
 * Runs a mutation and shapes its payload: the result on success, or the caller's
 * input mistakes as `errors` (the work ran in one transaction, so nothing was
 * written). Anything else is a server fault and propagates (masked to clients).
 */
export async function payload<T extends object>(run: () => Promise<T>): Promise<Partial<T> & { errors: UserErrorShape[] }> {
  try {
    return { ...(await run()), errors: [] };
  } catch (error) {
    const errors = asUserErrors(error);
    if (!errors) throw error;
    return { errors: errors.map(({ field, message, code }) => ({ field, message, code })) } as Partial<T> & {
      errors: UserErrorShape[];
    };
  }
}
