/**
 * Blocks written in Sequenzy's shape, mapped onto ours before validation, so a
 * team moving over can send the blocks it already has. Only the spelling is
 * translated; the result is then validated as any other block list, and what is
 * stored (and returned) is always our canonical form.
 *
 * | Sequenzy                                                | Stepwise                                   |
 * | ------------------------------------------------------- | ------------------------------------------ |
 * | `content` on heading, text, button, footer              | `text`                                     |
 * | `content` on html                                       | `html`                                     |
 * | text `variant`: `paragraph`                             | `body`                                     |
 * | text `variant`: `caption`                               | `small`                                    |
 * | text `variant`: `html` (`content` is a whole HTML part) | an `html` block                            |
 * | text `content` wrapped in `<p>…</p>` paragraphs         | inline text, paragraphs joined by `<br><br>` |
 * | button `href` or `link`                                 | `url`                                      |
 * | image `url`                                             | `src`                                      |
 * | `quote` with `content` (inline HTML)                    | an `html` block holding a `<blockquote>`   |
 *
 * A block carrying both spellings (`text` and `content`), or Sequenzy's
 * `condition` (conditional content, which Stepwise does not have), is refused
 * with an issue at that key. Anything else is left for the block schema to judge,
 * so unknown keys and types are still refused there.
 */
import { z } from 'zod';

type Issue = { path: (string | number)[]; message: string };
type Raw = Record<string, unknown>;

const TEXT_VARIANTS: Record<string, string> = { paragraph: 'body', caption: 'small' };

/** `content` (or another alias) renamed to `to`; both given is an issue. */
function rename(block: Raw, from: string, to: string, path: (string | number)[], issues: Issue[]): Raw {
  if (!(from in block)) return block;
  if (to in block) {
    issues.push({ path: [...path, from], message: `Give either ${to} or ${from}, not both` });
    return block;
  }
  const { [from]: value, ...rest } = block;
  return { ...rest, [to]: value };
}

/** `<p>A</p><p>B</p>` → `A<br><br>B`: our text blocks hold inline HTML only. */
function unwrapParagraphs(html: unknown): unknown {
  if (typeof html !== 'string') return html;
  const trimmed = html.trim();
  if (!/^<p(?:\s[^>]*)?>/i.test(trimmed) || !/<\/p>$/i.test(trimmed)) return html;
  return trimmed
    .replace(/^<p(?:\s[^>]*)?>/i, '')
    .replace(/<\/p>$/i, '')
    .replace(/<\/p>\s*<p(?:\s[^>]*)?>/gi, '<br><br>');
}

function mapBlock(raw: unknown, path: (string | number)[], issues: Issue[]): unknown {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) return raw;
  let block = raw as Raw;
  if ('condition' in block) {
    issues.push({ path: [...path, 'condition'], message: 'Conditional blocks are not supported; send one email per audience instead' });
  }
  switch (block.type) {
    case 'heading':
    case 'footer':
      return rename(block, 'content', 'text', path, issues);
    case 'html':
      return rename(block, 'content', 'html', path, issues);
    case 'button':
      block = rename(block, 'content', 'text', path, issues);
      block = rename(block, 'label', 'text', path, issues);
      block = rename(block, 'href', 'url', path, issues);
      return rename(block, 'link', 'url', path, issues);
    case 'image':
      return rename(block, 'url', 'src', path, issues);
    case 'quote': {
      // No quote block of our own: the same rendering as raw HTML (sanitised like any html block).
      const { content, type: _type, ...rest } = rename(block, 'text', 'content', path, issues);
      return { ...rest, type: 'html', html: typeof content === 'string' ? `<blockquote>${unwrapParagraphs(content)}</blockquote>` : content };
    }
    case 'text': {
      if (block.variant === 'html') {
        const { variant: _variant, type: _type, ...rest } = block;
        return rename({ ...rest, type: 'html' }, 'content', 'html', path, issues);
      }
      const hadContent = 'content' in block && !('text' in block);
      block = rename(block, 'content', 'text', path, issues);
      if (hadContent) block = { ...block, text: unwrapParagraphs(block.text) };
      if (typeof block.variant === 'string' && block.variant in TEXT_VARIANTS) {
        block = { ...block, variant: TEXT_VARIANTS[block.variant] };
      }
      return block;
    }
    case 'columns': {
      if (!Array.isArray(block.columns)) return block;
      const columns = block.columns.map((column: unknown, c) =>
        Array.isArray(column) ? column.map((child, j) => mapBlock(child, [...path, 'columns', c, j], issues)) : column,
      );
      return { ...block, columns };
    }
    default:
      return block;
  }
}

/**
 * The block list with Sequenzy's spellings turned into ours. Throws a ZodError
 * (paths into the array, as the block schema's) when a block mixes both forms.
 */
export function fromForeignBlocks(input: unknown): unknown {
  if (!Array.isArray(input)) return input;
  const issues: Issue[] = [];
  const mapped = input.map((block, i) => mapBlock(block, [i], issues));
  if (issues.length) {
    throw new z.ZodError(issues.map((issue) => ({ code: 'custom' as const, input: undefined, ...issue })));
  }
  return mapped;
}
