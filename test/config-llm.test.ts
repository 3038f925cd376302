import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from '../src/config.js';
import { builtinGenerator, createGenerator } from '../src/generation/generator.js';

describe('language model configuration', () => {
  it('is off by default, with a 30 s timeout', () => {
    const config = parseConfig({});
    expect(config.LLM_BASE_URL).toBeUndefined();
    expect(config.LLM_API_KEY).toBeUndefined();
    expect(config.LLM_MODEL).toBeUndefined();
    expect(config.LLM_TIMEOUT_MS).toBe(30_000);
  });

  it('takes the endpoint, key, model and timeout', () => {
    const config = parseConfig({
      LLM_BASE_URL: 'http://127.0.0.1:8080/v1',
      LLM_API_KEY: 'sk-local',
      LLM_MODEL: 'llama3',
      LLM_TIMEOUT_MS: '5000',
    });
    expect(config).toMatchObject({ LLM_BASE_URL: 'http://127.0.0.1:8080/v1', LLM_API_KEY: 'sk-local', LLM_MODEL: 'llama3', LLM_TIMEOUT_MS: 5000 });
    expect(parseConfig({ LLM_BASE_URL: '', LLM_API_KEY: ' ', LLM_MODEL: '' }).LLM_MODEL).toBeUndefined();
  });

  it.each([
    [{ LLM_BASE_URL: 'ftp://x' }, 'Invalid configuration: LLM_BASE_URL must be a URL (http, https)'],
    [{ LLM_TIMEOUT_MS: '10' }, 'Invalid configuration: LLM_TIMEOUT_MS must be at least 100 (got "10")'],
    [{ LLM_BASE_URL: 'https://api.example.com/v1', LLM_MODEL: 'm' }, 'Invalid configuration: LLM_API_KEY is required with LLM_BASE_URL and LLM_MODEL'],
    [{ LLM_API_KEY: 'k' }, 'Invalid configuration: LLM_BASE_URL is required with LLM_API_KEY'],
  ])('refuses %o with one line naming the variable', (env, message) => {
    expect(() => parseConfig(env)).toThrow(ConfigError);
    expect(() => parseConfig(env)).toThrow(message);
  });

  it('selects the model only when endpoint, key and model are all given', () => {
    expect(createGenerator({ baseUrl: 'http://127.0.0.1:1', apiKey: 'k', model: 'm' }).name).toBe('llm');
    expect(createGenerator({ baseUrl: 'http://127.0.0.1:1', model: 'm' })).toBe(builtinGenerator);
    expect(createGenerator({})).toBe(builtinGenerator);
  });
});
