// What an email step becomes for one subscriber. The sender and the preview both
// call this, so a preview is exactly what is sent.
import { normalizeBlocks } from '../domain/blocks.js';
import type { MergeTagContext } from '../domain/merge-tags.js';
import { renderEmail, type RenderedEmail } from './render.js';

export interface EmailStepContent {
  subject: string | null;
  previewText: string | null;
  blocks: unknown;
}

export function renderStep(
  step: EmailStepContent,
  options: { context: MergeTagContext; transactional: boolean; unsubscribeUrl?: string | null },
): Promise<RenderedEmail> {
  return renderEmail({
    subject: step.subject ?? '',
    previewText: step.previewText,
    blocks: normalizeBlocks(step.blocks),
    context: options.context,
    transactional: options.transactional,
    unsubscribeUrl: options.unsubscribeUrl,
  });
}
