import type { Block } from '../domain/blocks.js';
import { renderEmail } from './render.js';

/**
 * A step's HTML as the API shows it (`Step.html`): rendered without a particular
 * subscriber, so merge tags show their fallbacks.
 */
export async function renderStepHtml(step: {
  subject: string;
  previewText: string | null;
  blocks: Block[];
  transactional: boolean;
}): Promise<string> {
  const rendered = await renderEmail({
    ...step,
    context: { subscriber: { email: '', firstName: null, lastName: null, attributes: {} }, event: null, discount: null },
    transactional: step.transactional,
  });
  return rendered.html;
}
