// Which generator writes drafts: a language model when LLM_BASE_URL, LLM_API_KEY and
// LLM_MODEL are configured, otherwise the built-in deterministic writer. Set once at
// startup from the config (src/main.ts); tests point it at a local server.
import { writeBuiltinDraft, type SequenceGenerator } from '../domain/sequence-draft.js';
import { openAiGenerator } from './openai-generator.js';

export interface GeneratorOptions {
  baseUrl?: string;
  apiKey?: string;
  model?: string;
  timeoutMs?: number;
}

export const DEFAULT_LLM_TIMEOUT_MS = 30_000;

export const builtinGenerator: SequenceGenerator = {
  name: 'builtin',
  generate: async (request) => writeBuiltinDraft(request),
};

let current: SequenceGenerator = builtinGenerator;

export function configureGenerator(options: GeneratorOptions = {}): SequenceGenerator {
  const { baseUrl, apiKey, model } = options;
  current =
    baseUrl && apiKey && model
      ? openAiGenerator({ baseUrl, apiKey, model, timeoutMs: options.timeoutMs ?? DEFAULT_LLM_TIMEOUT_MS })
      : builtinGenerator;
  return current;
}

export function sequenceGenerator(): SequenceGenerator {
  return current;
}
