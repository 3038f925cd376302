// Drafts written by a language model behind any OpenAI-compatible chat-completions
// endpoint (OpenAI, a local server, a gateway), through the official SDK. The model
// is asked for a JSON object; an answer that is not valid is sent back once with the
// problem, and a second invalid answer, a timeout or a refused request fails the draft.
import OpenAI, { APIConnectionError, APIConnectionTimeoutError, APIError } from 'openai';
import type { ChatCompletionMessageParam } from 'openai/resources/chat/completions';
import {
  DRAFT_ANSWER_SHAPE,
  DraftGenerationError,
  draftDelays,
  draftKind,
  parseDraftAnswer,
  type DraftRequest,
  type SequenceGenerator,
} from '../domain/sequence-draft.js';

export interface LlmOptions {
  baseUrl: string;
  apiKey: string;
  model: string;
  /** Milliseconds one request may take. */
  timeoutMs: number;
}

const SYSTEM_PROMPT = `You write automated marketing and lifecycle email sequences.
Answer with one JSON object and nothing else, of this shape:
${DRAFT_ANSWER_SHAPE}
Each email has a "subject" (at most 200 characters), a "previewText" (one sentence) and "blocks", in order. Block types:
- {"type":"heading","text":"plain text","level":1|2|3}
- {"type":"text","text":"inline HTML: <b> <i> <u> <strong> <em> <br> <a href>","variant":"body"|"muted"|"small"}
- {"type":"button","text":"plain text","url":"https://…"}
- {"type":"list","items":["inline HTML", …],"ordered":false}
- {"type":"divider"}
- {"type":"footer","text":"why the reader gets this email"}
No other fields and no other block types. Greet the reader with the merge tag {{subscriber.firstName|there}}; use no other merge tags. End every email with a footer block. Keep each email short and concrete.`;

function describeTrigger(request: DraftRequest): string {
  const t = request.trigger;
  switch (t.type) {
    case 'CONTACT_ADDED':
      return 'a new subscriber is added (a welcome / onboarding series)';
    case 'TAG_ADDED':
      return `the subscriber is tagged "${t.tagName}" (an onboarding series for that group)`;
    case 'SEGMENT_ENTERED':
      return 'the subscriber enters a segment (a series for that group)';
    case 'EVENT_RECEIVED':
      return `the subscriber triggers the event "${t.eventName}" (a follow-up series)`;
    case 'FREQUENCY':
      return `the subscriber triggers the event "${t.eventName}" repeatedly (a follow-up series)`;
    case 'INACTIVITY':
      return `the subscriber has been inactive for ${t.inactiveDays} days (a win-back series)`;
    default:
      return 'the subscriber is enrolled by hand';
  }
}

export function draftPrompt(request: DraftRequest): ChatCompletionMessageParam[] {
  const gaps = draftDelays(request.emailCount).map((d) => d.days);
  const timing = gaps.map((days, i) => (i === 0 ? 'email 1 at once' : `email ${i + 1} ${days} day${days === 1 ? '' : 's'} later`));
  return [
    { role: 'system', content: SYSTEM_PROMPT },
    {
      role: 'user',
      content: [
        `Goal of the sequence: ${request.goal}`,
        `Sequence name: ${request.sequenceName}`,
        `Starts when: ${describeTrigger(request)}`,
        `Kind: ${draftKind(request.trigger)}`,
        `Number of emails: exactly ${request.emailCount}`,
        `Timing: ${timing.join(', ')}`,
      ].join('\n'),
    },
  ];
}

export function openAiGenerator(options: LlmOptions): SequenceGenerator {
  // No SDK retries: a timeout or a refusal fails the draft; only invalid output is asked again.
  const client = new OpenAI({ baseURL: options.baseUrl, apiKey: options.apiKey, timeout: options.timeoutMs, maxRetries: 0 });

  async function ask(messages: ChatCompletionMessageParam[]): Promise<string> {
    try {
      const completion = await client.chat.completions.create({
        model: options.model,
        messages,
        response_format: { type: 'json_object' },
      });
      return completion?.choices?.[0]?.message?.content ?? '';
    } catch (error) {
      if (error instanceof APIConnectionTimeoutError) {
        throw new DraftGenerationError(`The language model did not answer within ${options.timeoutMs} ms`);
      }
      if (error instanceof APIConnectionError) {
        throw new DraftGenerationError(`The language model could not be reached at ${options.baseUrl}: ${error.message}`);
      }
      if (error instanceof APIError) {
        throw new DraftGenerationError(`The language model refused the request (HTTP ${error.status}): ${error.message}`);
      }
      throw error;
    }
  }

  return {
    name: 'llm',
    async generate(request) {
      const messages = draftPrompt(request);
      let problem = '';
      for (let attempt = 1; attempt <= 2; attempt++) {
        const content = await ask(messages);
        try {
          return parseDraftAnswer(parseJson(content), request.emailCount);
        } catch (error) {
          if (!(error instanceof DraftGenerationError)) throw error;
          problem = error.message;
          messages.push(
            { role: 'assistant', content },
            { role: 'user', content: `That answer is not valid: ${problem}. Answer again with the corrected JSON object only.` },
          );
        }
      }
      throw new DraftGenerationError(`The language model gave an invalid draft twice: ${problem}`);
    },
  };
}

function parseJson(content: string): unknown {
  if (!content.trim()) throw new DraftGenerationError('the answer was empty');
  try {
    return JSON.parse(content);
  } catch {
    throw new DraftGenerationError('the answer was not valid JSON');
  }
}
