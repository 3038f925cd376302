/**
 * Converts an imported HTML email (hand-written HTML, React Email output, compiled
 * MJML) into blocks, deterministically: the same input always gives the same blocks,
 * with ids `b1`, `b2`, ... in document order.
 *
 * The document is parsed with htmlparser2 and walked in order:
 *
 * - `h1`-`h3` become `heading` blocks with that level; `h4`-`h6` level 3.
 * - Runs of inline content (text, `b strong i em u br a[href]`; other inline tags
 *   such as `span` or `font` keep their text but lose the tag) become `text` blocks;
 *   each paragraph-like container (`p`, `div`, `td`, ...) ends a run. `align` comes
 *   from the nearest `align` attribute or `text-align` style (left is the default),
 *   not inherited into nested tables.
 * - An `<a>` styled as a button (background colour, padding, `display:inline-block`,
 *   `role="button"`, a class containing `button`/`btn`, or alone in a cell or
 *   paragraph that has a background) becomes a `button` block; an `<a>` around a
 *   single image becomes an `image` block with `href`.
 * - `img` → `image` (src, alt, width clamped to 600), `ul`/`ol` → `list`, `hr` and
 *   MJML's empty bordered divider paragraph → `divider`, an empty `div` with a pixel
 *   height (MJML's spacer) → `spacer`.
 * - Layout wrappers (`html body table tbody tr td th div center section ...`) are
 *   walked through, not kept. A table is layout unless it looks like data: it has
 *   `th`, `caption` or `thead`, or several multi-cell rows holding only text (and is
 *   not `role="presentation"`).
 * - Everything else (a data table, `blockquote`, `form`, `pre`, unknown tags, or a
 *   block whose values the block model would reject, e.g. a relative image URL) is
 *   kept as a raw `html` block: content is never silently dropped. Only non-content
 *   is: `<head>`, comments (including Outlook conditional comments), and hidden
 *   elements (`display:none`, `mso-hide:all`, `hidden`), such as the preview text
 *   React Email and MJML put at the top of the body.
 *
 * Sanitising: the input first goes through the one allow-list sanitiser
 * (src/domain/sanitize-html.ts, `EMAIL_HTML`): scripts, styles, embedded documents,
 * event handlers and non-http(s)/mailto URLs are gone before the walk. Raw `html`
 * blocks also lose their `style` attributes.
 *
 * An import that would give more than `MAX_BLOCKS` blocks keeps the first
 * `MAX_BLOCKS - 1` and merges the rest into one raw `html` block.
 */
import { parseDocument } from 'htmlparser2';
import { cloneNode, isTag, isText, Text, type AnyNode, type Element, type ParentNode } from 'domhandler';
import render from 'dom-serializer';
import type { z } from 'zod';
import { blockSchema, MAX_BLOCKS, normalizeBlocks, type Block, type BlockInput } from './blocks.js';
import { escapeHtml } from './escape-html.js';
import { EMAIL_HTML, sanitizeHtml } from './sanitize-html.js';

type ParsedBlock = z.output<typeof blockSchema>;

type Align = 'left' | 'center' | 'right';

/** A block before validation, with the HTML to keep instead if the model rejects it. */
interface Candidate {
  block: BlockInput;
  fallback: () => string;
}

// ---------------------------------------------------------------------------
// Element classes

/** Never content (the sanitiser has removed them already; the walk does not rely on it). */
const REMOVED = new Set([
  'script', 'noscript', 'style', 'template', 'iframe', 'frame', 'frameset', 'object', 'embed',
  'applet', 'base', 'link', 'meta', 'title', 'head',
]);
/** Inline formatting the `text` block keeps. */
const FORMATTING = new Set(['b', 'strong', 'i', 'em', 'u']);
/** Inline tags whose content is kept but whose tag is not. */
const INLINE_PLAIN = new Set([
  'span', 'font', 'small', 'big', 'sup', 'sub', 's', 'strike', 'del', 'ins', 'mark', 'code', 'kbd',
  'samp', 'var', 'abbr', 'acronym', 'cite', 'q', 'dfn', 'time', 'label', 'tt', 'bdi', 'bdo', 'wbr',
  'nobr', 'o:p',
]);
/** Containers used for layout: walked through, each one ending a text run. */
const LAYOUT = new Set([
  'html', 'body', 'table', 'tbody', 'thead', 'tfoot', 'tr', 'td', 'th', 'div', 'center', 'section',
  'article', 'header', 'footer', 'main', 'aside', 'nav', 'p',
]);
/** Containers whose `align` attribute aligns their content (a table's only positions the table). */
const ALIGNING = new Set(['td', 'th', 'tr', 'div', 'p', 'center', 'h1', 'h2', 'h3', 'h4', 'h5', 'h6']);
const HEADING = /^h([1-6])$/;


// ---------------------------------------------------------------------------
// Small helpers

function styleOf(el: Element): Map<string, string> {
  const styles = new Map<string, string>();
  for (const declaration of (el.attribs['style'] ?? '').split(';')) {
    const colon = declaration.indexOf(':');
    if (colon < 0) continue;
    const property = declaration.slice(0, colon).trim().toLowerCase();
    const value = declaration.slice(colon + 1).trim().toLowerCase();
    if (property) styles.set(property, value);
  }
  return styles;
}

function isHidden(el: Element): boolean {
  if ('hidden' in el.attribs) return true;
  const style = styleOf(el);
  return /^none\b/.test(style.get('display') ?? '') || style.get('mso-hide') === 'all';
}

/** HTML whitespace (not U+00A0) collapsed to single spaces. */
const collapse = (text: string): string => text.replace(/[ \t\n\r\f]+/g, ' ');
const isBlank = (text: string): boolean => text.trim() === '';

function childElements(el: Element): Element[] {
  return el.children.filter(isTag);
}

/** Visible text of a node, whitespace collapsed and trimmed. */
function plainText(node: AnyNode): string {
  return collapse(rawText(node)).trim();
}

function rawText(node: AnyNode): string {
  if (isText(node)) return node.data;
  if (!isTag(node)) return '';
  if (REMOVED.has(node.name) || isHidden(node)) return '';
  if (node.name === 'br') return ' ';
  return node.children.map(rawText).join('');
}

function alignOf(el: Element): Align | undefined {
  if (el.name === 'center') return 'center';
  const textAlign = styleOf(el).get('text-align');
  const value = textAlign ?? (ALIGNING.has(el.name) ? el.attribs['align']?.toLowerCase() : undefined);
  if (value === 'start') return 'left';
  if (value === 'end') return 'right';
  return value === 'left' || value === 'center' || value === 'right' ? value : undefined;
}

function px(value: string | undefined): number | undefined {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(?:px)?\s*$/i.exec(value ?? '');
  return match ? Math.round(Number(match[1])) : undefined;
}

/** An absolute URL from an attribute, protocol-relative ones made https. */
function url(value: string | undefined): string {
  const trimmed = (value ?? '').trim();
  return trimmed.startsWith('//') ? `https:${trimmed}` : trimmed;
}

/** A colour that paints something (not transparent/none/inherit). */
function isPaint(value: string | undefined): boolean {
  return value !== undefined && value !== '' && !/^(?:transparent|none|inherit|initial|unset)\b/.test(value);
}

// ---------------------------------------------------------------------------
// Sanitising

/** Deeper than this, an element keeps only its text (the walk is recursive; email HTML nests ~30 deep). */
const MAX_DEPTH = 200;
/** The most a raw `html` block can hold. */
const MAX_HTML = 1_000_000;

/** Replaces what is nested deeper than `MAX_DEPTH` by its text, without recursing. */
function flattenDeep(root: ParentNode): void {
  const stack: [ParentNode, number][] = [[root, 0]];
  while (stack.length) {
    const [parent, depth] = stack.pop()!;
    for (const child of parent.children) {
      if (!isTag(child)) continue;
      if (depth + 1 < MAX_DEPTH) {
        stack.push([child, depth + 1]);
        continue;
      }
      let text = '';
      const pending: AnyNode[] = [...child.children].reverse();
      while (pending.length) {
        const node = pending.pop()!;
        if (isText(node)) text += node.data;
        else if (isTag(node) && !REMOVED.has(node.name)) pending.push(...[...node.children].reverse());
      }
      const replacement = new Text(text);
      replacement.parent = child;
      child.children = [replacement];
    }
  }
}

/** Sanitised HTML of nodes for a raw `html` block: also without style attributes or comments. */
function rawHtml(nodes: AnyNode[]): string {
  const copies = nodes.map((node) => cloneNode(node, true));
  const strip = (list: AnyNode[]): AnyNode[] =>
    list.filter((node) => {
      if (node.type === 'comment') return false;
      if (isTag(node)) {
        if (isHidden(node)) return false;
        delete node.attribs['style'];
        node.children = strip(node.children);
      }
      return true;
    });
  return render(strip(copies), { encodeEntities: 'utf8' }).trim();
}

// ---------------------------------------------------------------------------
// Inline content

/** Whether an `<a>` is styled as a button (see the module comment). */
function isButtonLink(a: Element): boolean {
  if (a.attribs['role']?.toLowerCase() === 'button') return true;
  if (/button|btn/i.test(a.attribs['class'] ?? '')) return true;
  const style = styleOf(a);
  if (isPaint(style.get('background-color')) || isPaint(style.get('background'))) return true;
  if (/^inline-block\b/.test(style.get('display') ?? '')) return true;
  for (const [property, value] of style) {
    if (/^padding(?:-(?:top|right|bottom|left))?$/.test(property) && /[1-9]/.test(value)) return true;
  }
  // Alone in a cell or paragraph that paints a background: a bulletproof button.
  const parent = a.parent;
  if (parent && isTag(parent) && ['td', 'th', 'p', 'div'].includes(parent.name)) {
    const alone = parent.children.every((child) => child === a || child.type === 'comment' || (isText(child) && isBlank(child.data)));
    const parentStyle = styleOf(parent);
    const painted = isPaint(parent.attribs['bgcolor']?.toLowerCase()) || isPaint(parentStyle.get('background-color')) || isPaint(parentStyle.get('background'));
    if (alone && painted) return true;
  }
  return false;
}

/** The only image inside an element (ignoring whitespace and inline wrappers), if it holds nothing else. */
function soleImage(el: Element): Element | undefined {
  let image: Element | undefined;
  const visit = (node: AnyNode): boolean => {
    if (isText(node)) return isBlank(node.data);
    if (!isTag(node)) return true;
    if (REMOVED.has(node.name) || isHidden(node)) return true;
    if (node.name === 'img') {
      if (image) return false;
      image = node;
      return true;
    }
    if (!INLINE_PLAIN.has(node.name) && !FORMATTING.has(node.name) && node.name !== 'br') return false;
    return node.children.every(visit);
  };
  return el.children.every(visit) ? image : undefined;
}

const isLinkTarget = (href: string): boolean => /^(?:https?:\/\/|mailto:|\{\{)/i.test(href);

/**
 * Inline HTML for nodes, or null when they hold something that is not inline
 * (a block element, an image, a button-like link).
 */
function inlineHtml(nodes: AnyNode[]): string | null {
  let out = '';
  for (const node of nodes) {
    if (isText(node)) {
      out += escapeHtml(collapse(node.data));
      continue;
    }
    if (!isTag(node) || REMOVED.has(node.name) || isHidden(node)) continue;
    const { name } = node;
    if (name === 'br') {
      out += '<br>';
      continue;
    }
    const inner = name === 'a' || FORMATTING.has(name) || INLINE_PLAIN.has(name) ? inlineHtml(node.children) : null;
    if (inner === null) return null;
    if (FORMATTING.has(name)) out += `<${name}>${inner}</${name}>`;
    else if (name === 'a') {
      if (isButtonLink(node)) return null;
      const href = url(node.attribs['href']);
      out += isLinkTarget(href) ? `<a href="${escapeHtml(href)}">${inner}</a>` : inner;
    } else out += inner;
  }
  return out;
}

/** Tidies a run of inline HTML: collapsed spaces, no spaces around `<br>`, no leading/trailing breaks. */
function tidyInline(html: string): string {
  return html
    .replace(/ {2,}/g, ' ')
    .replace(/ ?<br> ?/g, '<br>')
    .replace(/^(?:\s|<br>)+|(?:\s|<br>)+$/g, '');
}

/** Whether inline HTML shows any text. */
const hasText = (html: string): boolean => !isBlank(html.replace(/<[^>]*>/g, '').replace(/&nbsp;/g, ' '));

// ---------------------------------------------------------------------------
// Tables

function rowsOf(table: Element): Element[] {
  const rows: Element[] = [];
  for (const child of childElements(table)) {
    if (child.name === 'tr') rows.push(child);
    else if (['tbody', 'thead', 'tfoot'].includes(child.name)) rows.push(...childElements(child).filter((el) => el.name === 'tr'));
  }
  return rows;
}

const BLOCKISH = /^(?:p|div|h[1-6]|table|ul|ol|img|hr|blockquote|pre|form|center|section)$/;

function holdsBlocks(el: Element): boolean {
  return childElements(el).some((child) => BLOCKISH.test(child.name) || (child.name === 'a' && isButtonLink(child)) || holdsBlocks(child));
}

/** A table that holds data rather than layout (see the module comment). */
function isDataTable(table: Element): boolean {
  const role = table.attribs['role']?.toLowerCase();
  if (role === 'presentation' || role === 'none') return false;
  const children = childElements(table);
  if (children.some((child) => child.name === 'caption' || child.name === 'thead')) return true;
  const rows = rowsOf(table);
  const cellsOf = (row: Element) => childElements(row).filter((el) => el.name === 'td' || el.name === 'th');
  if (rows.some((row) => cellsOf(row).some((cell) => cell.name === 'th'))) return true;
  const gridRows = rows.filter((row) => cellsOf(row).length >= 2);
  return gridRows.length >= 2 && gridRows.every((row) => cellsOf(row).every((cell) => !holdsBlocks(cell)));
}

// ---------------------------------------------------------------------------
// The walk

class Importer {
  readonly candidates: Candidate[] = [];
  private run = '';
  private runAlign: Align | undefined;

  private emit(block: BlockInput, fallback: () => string): void {
    this.candidates.push({ block, fallback });
  }

  private raw(nodes: AnyNode[]): void {
    this.flush();
    const html = rawHtml(nodes);
    if (!isBlank(html)) this.emit({ type: 'html', html }, () => html);
  }

  private append(html: string, align: Align | undefined): void {
    if (isBlank(this.run)) this.runAlign = align;
    this.run += html;
  }

  flush(): void {
    const text = tidyInline(this.run);
    const align = this.runAlign;
    this.run = '';
    if (!hasText(text)) return;
    this.emit(
      { type: 'text', text, ...(align && align !== 'left' ? { align } : {}) },
      () => `<p${align ? ` align="${align}"` : ''}>${text}</p>`,
    );
  }

  walk(nodes: AnyNode[], align: Align | undefined): void {
    for (const node of nodes) {
      if (isText(node)) this.append(escapeHtml(collapse(node.data)), align);
      else if (isTag(node)) this.element(node, align);
    }
  }

  private element(el: Element, inherited: Align | undefined): void {
    const { name } = el;
    if (REMOVED.has(name) || isHidden(el)) return;
    // As in quirks mode (which much email HTML renders in), a table does not inherit
    // alignment: an outer `td align="center"` centres the container, not its text.
    const align = alignOf(el) ?? (name === 'table' ? undefined : inherited);

    if (name === 'br') return this.append('<br>', align);
    if (FORMATTING.has(name) || INLINE_PLAIN.has(name)) {
      const inline = inlineHtml([el]);
      if (inline !== null) return this.append(inline, align);
      return this.walk(el.children, align); // wraps blocks: keep the blocks, lose the formatting
    }
    if (name === 'a') return this.anchor(el, align);

    const heading = HEADING.exec(name);
    if (heading) return this.heading(el, Math.min(Number(heading[1]), 3) as 1 | 2 | 3, align);
    if (name === 'img') return this.image(el, undefined, [el]);
    if (name === 'hr') {
      this.flush();
      return this.emit({ type: 'divider' }, () => '<hr>');
    }
    if (name === 'ul' || name === 'ol') return this.list(el);
    if (name === 'table' && isDataTable(el)) return this.raw([el]);
    if (LAYOUT.has(name)) return this.layout(el, align);
    this.raw([el]);
  }

  private layout(el: Element, align: Align | undefined): void {
    this.flush();
    const style = styleOf(el);
    const decorated = style.has('border-top') || style.has('height');
    const empty = decorated && isBlank(plainText(el)) && childElements(el).every((child) => child.name === 'br' || isHidden(child));
    if (empty && el.name !== 'td' && el.name !== 'th') {
      const border = style.get('border-top');
      if (border !== undefined && /[1-9]/.test(border) && !/\bnone\b/.test(border)) {
        return this.emit({ type: 'divider' }, () => '<hr>');
      }
      const height = px(style.get('height'));
      if (el.name === 'div' && height !== undefined && height > 0) {
        const clamped = Math.min(Math.max(height, 4), 200);
        return this.emit({ type: 'spacer', height: clamped }, () => `<div style="height:${clamped}px"></div>`);
      }
    }
    this.walk(el.children, align);
    this.flush();
  }

  private heading(el: Element, level: 1 | 2 | 3, align: Align | undefined): void {
    if (inlineHtml(el.children) === null) return this.layout(el, align); // holds images or blocks
    const text = plainText(el);
    if (text === '') return;
    this.flush();
    this.emit({ type: 'heading', text, level }, () => rawHtml([el]));
  }

  private anchor(a: Element, align: Align | undefined): void {
    const href = url(a.attribs['href']);
    const image = soleImage(a);
    if (image) return this.image(image, href || undefined, [a]);
    if (isButtonLink(a) && inlineHtml(a.children) !== null && plainText(a) !== '') {
      this.flush();
      const text = plainText(a);
      return this.emit({ type: 'button', text, url: href, ...(align ? { align } : {}) }, () => rawHtml([a]));
    }
    const inline = inlineHtml([a]);
    if (inline !== null) return this.append(inline, align);
    this.raw([a]); // a link around blocks
  }

  private image(img: Element, href: string | undefined, source: AnyNode[]): void {
    this.flush();
    const width = px(img.attribs['width']) ?? px(styleOf(img).get('width'));
    const block: BlockInput = {
      type: 'image',
      src: url(img.attribs['src']),
      alt: collapse(img.attribs['alt'] ?? '').trim().slice(0, 500),
      ...(width !== undefined && width >= 1 ? { width: Math.min(width, 600) } : {}),
      ...(href ? { href } : {}),
    };
    this.emit(block, () => rawHtml(source));
  }

  private list(el: Element): void {
    this.flush();
    const items: string[] = [];
    for (const child of el.children) {
      if (isText(child)) {
        if (isBlank(child.data)) continue;
        return this.raw([el]); // text outside items
      }
      if (!isTag(child) || REMOVED.has(child.name) || isHidden(child)) continue;
      if (child.name !== 'li') return this.raw([el]);
      const item = listItemHtml(child);
      if (item === null) return this.raw([el]);
      if (hasText(item)) items.push(item);
    }
    if (items.length === 0) return this.raw([el]);
    const ordered = el.name === 'ol';
    for (let i = 0; i < items.length; i += 100) {
      const chunk = items.slice(i, i + 100);
      const tag = ordered ? 'ol' : 'ul';
      this.emit({ type: 'list', items: chunk, ordered }, () => `<${tag}>${chunk.map((item) => `<li>${item}</li>`).join('')}</${tag}>`);
    }
  }
}

/** A list item as inline HTML, paragraphs inside it joined by breaks; null when it holds more. */
function listItemHtml(li: Element): string | null {
  const parts: string[] = [];
  let current: AnyNode[] = [];
  const close = (): boolean => {
    const html = inlineHtml(current);
    current = [];
    if (html === null) return false;
    const tidy = tidyInline(html);
    if (hasText(tidy)) parts.push(tidy);
    return true;
  };
  for (const child of li.children) {
    if (isTag(child) && (child.name === 'p' || child.name === 'div')) {
      if (!close()) return null;
      current = child.children;
      if (!close()) return null;
    } else current.push(child);
  }
  if (!close()) return null;
  return parts.join('<br>');
}

/** Plain HTML for a validated block, for the raw tail of an oversized import. */
function blockHtml(block: ParsedBlock): string {
  const escape = escapeHtml;
  switch (block.type) {
    case 'heading':
      return `<h${block.level}>${escape(block.text)}</h${block.level}>`;
    case 'text':
      return `<p${block.align ? ` align="${block.align}"` : ''}>${block.text}</p>`;
    case 'button':
      return `<p${block.align ? ` align="${block.align}"` : ''}><a href="${escape(block.url)}">${escape(block.text)}</a></p>`;
    case 'image': {
      const img = `<img src="${escape(block.src)}" alt="${escape(block.alt)}"${block.width ? ` width="${block.width}"` : ''}>`;
      return block.href ? `<a href="${escape(block.href)}">${img}</a>` : img;
    }
    case 'list': {
      const tag = block.ordered ? 'ol' : 'ul';
      return `<${tag}>${block.items.map((item) => `<li>${item}</li>`).join('')}</${tag}>`;
    }
    case 'divider':
      return '<hr>';
    case 'spacer':
      return `<div style="height:${block.height}px"></div>`;
    case 'html':
      return block.html;
    default:
      return ''; // columns and footer are never produced by an import
  }
}

/**
 * Converts an imported HTML email into blocks (see the module comment). The result
 * always passes `normalizeBlocks`; an input with no content gives one empty `html` block.
 */
export function importHtml(html: string): Block[] {
  // The one sanitiser first (src/domain/sanitize-html.ts); the walk below only sorts what is left into blocks.
  const document = parseDocument(sanitizeHtml(html, EMAIL_HTML), { decodeEntities: true });
  flattenDeep(document);

  const importer = new Importer();
  importer.walk(document.children, undefined);
  importer.flush();

  const blocks = importer.candidates.map(({ block, fallback }): ParsedBlock => {
    const parsed = blockSchema.safeParse(block);
    return parsed.success ? parsed.data : { type: 'html', html: fallback().slice(0, MAX_HTML) };
  });
  if (blocks.length === 0) blocks.push({ type: 'html', html: '' });
  if (blocks.length > MAX_BLOCKS) {
    const tail = blocks.splice(MAX_BLOCKS - 1);
    blocks.push({ type: 'html', html: tail.map(blockHtml).join('\n').slice(0, MAX_HTML) });
  }
  return normalizeBlocks(blocks);
}
