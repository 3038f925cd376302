// Which generator writes drafts: a language model when LLM_BASE_URL, LLM_API_KEY and
// LLM_MODEL are configured, otherwise the built-in deterministic writer. The runtime
// holds one (src/runtime.ts); tests point theirs at a local server.
import { writeBuiltinDraft, type SequenceGenerator } from '../domain/sequence-draft.js';
import type { LlmOptions } from './openai-generator.js';

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

export function createGenerator(options: GeneratorOptions = {}): SequenceGenerator {
  const { baseUrl, apiKey, model } = options;
  return baseUrl && apiKey && model
    ? llmGenerator({ baseUrl, apiKey, model, timeoutMs: options.timeoutMs ?? DEFAULT_LLM_TIMEOUT_MS })
    : builtinGenerator;
}

/** The OpenAI SDK is loaded with the first draft: a process that writes none (a worker, mostly) does without it. */
function llmGenerator(options: LlmOptions): SequenceGenerator {
  let loaded: Promise<SequenceGenerator> | undefined;
  return {
    name: 'llm',
    async generate(request) {
      loaded ??= import('./openai-generator.js').then((module) => module.openAiGenerator(options));
      return (await loaded).generate(request);
    },
  };
}
