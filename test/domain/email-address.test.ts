import { describe, expect, it } from 'vitest';
import { emailSchema, normalizeEmail } from '../../src/domain/email-address.js';

describe('normalizeEmail', () => {
  it('trims and lowercases', () => {
    expect(normalizeEmail('  Ada.Lovelace@Example.COM \n')).toBe('ada.lovelace@example.com');
    expect(normalizeEmail('ada@example.com')).toBe('ada@example.com');
  });
});

describe('emailSchema', () => {
  it('accepts and normalizes valid addresses', () => {
    expect(emailSchema.parse(' Ada+news@Example.co.uk ')).toBe('ada+news@example.co.uk');
  });

  it.each(['', '   ', 'ada', 'ada@', '@example.com', 'ada@example', 'a da@example.com', 'ada@@example.com'])(
    'rejects %j with a clear message',
    (input) => {
      const result = emailSchema.safeParse(input);
      expect(result.success).toBe(false);
      expect(result.error!.issues[0]!.message).toBe('must be a valid email address');
    },
  );

  it('rejects non-strings with the same message', () => {
    for (const input of [undefined, null, 42, {}]) {
      const result = emailSchema.safeParse(input);
      expect(result.success).toBe(false);
      expect(result.error!.issues[0]!.message).toBe('must be a valid email address');
    }
  });
});
