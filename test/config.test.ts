import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from '../src/config.js';

describe('configuration', () => {
  it('has working defaults', () => {
    const config = parseConfig({});
    expect(config).toMatchObject({ PORT: 4000, PUBLIC_URL: 'http://localhost:4000', STEPWISE_ROLE: 'all' });
    expect(config.DATABASE_URL).toBeUndefined();
    expect(Object.isFrozen(config)).toBe(true);
  });

  it.each([
    [{ PORT: 'abc' }, 'Invalid configuration: PORT must be a whole number (got "abc")'],
    [{ PORT: '70000' }, 'Invalid configuration: PORT must be at most 65535 (got "70000")'],
    [{ DATABASE_URL: 'mysql://x' }, 'Invalid configuration: DATABASE_URL must be a URL (postgres, postgresql)'],
    [{ SMTP_URL: 'not a url' }, 'Invalid configuration: SMTP_URL must be a URL (smtp, smtps)'],
    [{ STEPWISE_ROLE: 'boss' }, 'Invalid configuration: STEPWISE_ROLE'],
    [{ STEPWISE_API_KEY: 'short' }, 'Invalid configuration: STEPWISE_API_KEY must be at least 16 characters'],
    [{ STEPWISE_API_KEY: 'sk_test_0123456789abcdefghij' }, 'Invalid configuration: STEPWISE_API_KEY must be a live key (sk_test_ keys are made by createTestKey)'],
  ])('refuses %o with one line naming the variable', (env, message) => {
    expect(() => parseConfig(env)).toThrow(ConfigError);
    expect(() => parseConfig(env)).toThrow(message);
  });

  it('never prints the value of a secret or a URL (it may hold a password)', () => {
    for (const env of [{ STEPWISE_API_KEY: 'short' }, { SMTP_URL: 'smtp-user:hunter2@x' }, { STEPWISE_SECRET: 'tiny' }]) {
      const message = (() => {
        try {
          parseConfig(env);
          return '';
        } catch (error) {
          return (error as Error).message;
        }
      })();
      expect(message).toMatch(/^Invalid configuration: /);
      expect(message).not.toContain(Object.values(env)[0]);
    }
  });
});
