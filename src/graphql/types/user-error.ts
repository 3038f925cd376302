import { UserError } from '../../domain/errors.js';
import { asUserErrors } from '../../services/user-input.js';
import { builder } from '../builder.js';

export const UserErrorRef = builder.objectRef<UserError>('UserError').implement({
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
export async function payload<T extends object>(run: () => Promise<T>): Promise<Partial<T> & { errors: UserError[] }> {
  try {
    return { ...(await run()), errors: [] };
  } catch (error) {
    const errors = asUserErrors(error);
    if (!errors) throw error;
    return { errors } as Partial<T> & { errors: UserError[] };
  }
}
