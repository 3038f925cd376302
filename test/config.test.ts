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
    [{ DATABASE_URL: 'mysql://x' }, 'Invalid configuration: DATABASE_URL must be a URL (postgres, postgresql) (got "mysql://x")'],
    [{ SMTP_URL: 'not a url' }, 'Invalid configuration: SMTP_URL must be a URL (smtp, smtps) (got "not a url")'],
    [{ STEPWISE_ROLE: 'boss' }, 'Invalid configuration: STEPWISE_ROLE'],
    [{ STEPWISE_API_KEY: 'short' }, 'Invalid configuration: STEPWISE_API_KEY must be at least 16 characters (got "short")'],
  ])('refuses %o with one line naming the variable', (env, message) => {
    expect(() => parseConfig(env)).toThrow(ConfigError);
    expect(() => parseConfig(env)).toThrow(message);
  });
});
