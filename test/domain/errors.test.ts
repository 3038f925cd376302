import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { notFound, UserError, userErrorsFromZod } from '../../src/domain/errors.js';

describe('UserError', () => {
  it('defaults field and code', () => {
    const error = new UserError('Nope');
    expect(error).toBeInstanceOf(Error);
    expect(error.message).toBe('Nope');
    expect(error.field).toEqual([]);
    expect(error.code).toBe('BAD_USER_INPUT');
    expect(error.name).toBe('UserError');
  });

  it('keeps explicit field and code', () => {
    const error = new UserError('Bad', ['input', 'name'], 'CUSTOM');
    expect(error.field).toEqual(['input', 'name']);
    expect(error.code).toBe('CUSTOM');
  });
});

describe('userErrorsFromZod', () => {
  const schema = z.object({ name: z.string().min(1), steps: z.array(z.object({ delay: z.int() })) });

  it('maps each issue to a VALIDATION error with stringified, prefixed path', () => {
    const result = schema.safeParse({ name: '', steps: [{ delay: 1 }, { delay: 1.5 }] });
    expect(result.success).toBe(false);
    const errors = userErrorsFromZod(result.error!, ['input']);
    expect(errors).toHaveLength(2);
    expect(errors.map((e) => e.field)).toEqual([
      ['input', 'name'],
      ['input', 'steps', '1', 'delay'],
    ]);
    expect(errors.every((e) => e instanceof UserError && e.code === 'VALIDATION')).toBe(true);
    expect(errors[0]!.message).toMatch(/>=1|too small/i);
  });

  it('uses no prefix by default', () => {
    const result = z.object({ a: z.string() }).safeParse({});
    expect(userErrorsFromZod(result.error!)[0]!.field).toEqual(['a']);
  });
});

describe('notFound', () => {
  it('builds a NOT_FOUND user error', () => {
    const error = notFound('Sequence', ['id']);
    expect(error).toBeInstanceOf(UserError);
    expect(error.message).toBe('Sequence not found');
    expect(error.field).toEqual(['id']);
    expect(error.code).toBe('NOT_FOUND');
  });
});
