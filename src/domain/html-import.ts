import type { Block } from './blocks.js';

/**
 * Converts an imported HTML email into blocks. For now the whole document is kept
 * as one raw-HTML block (nothing is dropped); the structural importer
 * (headings, paragraphs, buttons, images, lists) replaces this in the content issue.
 */
export function importHtml(html: string): Block[] {
  return [{ id: 'b1', type: 'html', html } as Block];
}
