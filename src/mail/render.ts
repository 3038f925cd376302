/**
 * Renders an email's blocks to its subject, preview text, responsive HTML (via MJML)
 * and plain-text part. Merge tags are rendered per field: HTML-escaped where the field
 * ends up in HTML, verbatim in the plain-text part; in URLs they are checked once
 * rendered (renderUrl). Inline and raw HTML arrive sanitised (normalizeBlocks) and
 * are rendered from their parsed tree.
 *
 * The document builder writes every subscriber-dependent value through a `Fill`:
 * `renderEmail` writes the values (one email, MJML included); `compileEmailHtml`
 * writes placeholder tokens so compiled-email.ts can compile a step once and fill
 * it per email. Both share every line of the builder.
 *
 * Async because `mjml2html` is async from mjml 5 on.
 */
import { randomBytes } from 'node:crypto';
import { isTag, isText, type ChildNode } from 'domhandler';
import { compile } from 'html-to-text';
import { parseDocument } from 'htmlparser2';
import { DEFAULT_FOOTER_TEXT, type Block, type ColumnBlock } from '../domain/blocks.js';
import { escapeHtml } from '../domain/escape-html.js';
import { hasMergeTags, mergeTagValue, renderText, tokenizeMergeTags, type MergeTag, type MergeTagContext } from '../domain/merge-tags.js';
import { EMAIL_HTML, INLINE_HTML, URL_ATTRIBUTES, sanitizeHtml } from '../domain/sanitize-html.js';

export interface RenderEmailInput {
  subject: string;
  previewText?: string | null;
  blocks: Block[];
  context: MergeTagContext;
  /** Where the footer's unsubscribe link points; `#unsubscribe` when null. */
  unsubscribeUrl?: string | null;
  transactional: boolean;
}

export interface RenderedEmail {
  subject: string;
  previewText: string;
  html: string;
  text: string;
}

export const UNSUBSCRIBE_PLACEHOLDER = '#unsubscribe';

const FONT = 'Helvetica, Arial, sans-serif';
const COLOR = '#1f2937';
const MUTED = '#6b7280';
const LINK = '#2563eb';

// ---------------------------------------------------------------------------
// Merge tags in URLs

/**
 * Renders merge tags in a URL template. A tag after a `?` (query or fragment) is
 * percent-encoded; a tag before it is inserted as is, so `{{event.url}}` can be a
 * whole URL. A result that is not an http(s)/mailto URL becomes `#`, so data can
 * never produce a `javascript:` link.
 */
export function renderUrl(template: string, ctx: MergeTagContext): string {
  let out = '';
  for (const token of tokenizeMergeTags(template)) {
    if (typeof token === 'string') out += token;
    else {
      const value = mergeTagValue(token, ctx);
      out += out.includes('?') ? encodeURIComponent(value) : value;
    }
  }
  return safeUrl(out.trim());
}

function safeUrl(url: string): string {
  if (!/^(?:https?:\/\/|mailto:)/i.test(url)) return '#';
  return url.replace(/[\s"<>]/g, (c) => encodeURIComponent(c));
}

// ---------------------------------------------------------------------------
// Slots: where a subscriber's values go

/** A place in the email whose content depends on the subscriber (or the message). */
export type Slot =
  | { kind: 'tag'; tag: MergeTag }
  | { kind: 'url'; template: string }
  | { kind: 'unsubscribe' }
  | { kind: 'subject' }
  | { kind: 'previewText' };

/** What one email's slots are filled from. */
export interface SlotValues {
  ctx: MergeTagContext;
  subject: string;
  previewText: string;
  unsubscribeUrl: string;
}

/** A slot's value, unescaped (URLs already checked by renderUrl). */
export function slotValue(slot: Slot, values: SlotValues): string {
  switch (slot.kind) {
    case 'tag':
      return mergeTagValue(slot.tag, values.ctx);
    case 'url':
      return renderUrl(slot.template, values.ctx);
    case 'unsubscribe':
      return values.unsubscribeUrl;
    case 'subject':
      return values.subject;
    case 'previewText':
      return values.previewText;
  }
}

/**
 * How the document builder writes a slot: the escaped value (one email rendered at
 * once), or a placeholder token (compiled once, filled per email: compiled-email.ts).
 */
type Fill = ((slot: Slot) => string) & { region?: (content: string) => string };

const directFill =
  (values: SlotValues): Fill =>
  (slot) =>
    escapeHtml(slotValue(slot, values));

/** This module's source, part of a stored template's key (compiled-email.ts). */
export const RENDER_MODULE = import.meta.url;

/** Placeholder tokens: lowercase letters and digits only, so MJML and HTML parsing leave them alone. */
export const SLOT_NONCE = `sw${randomBytes(5).toString('hex')}`;
export const SLOT_TOKEN = new RegExp(`${SLOT_NONCE}s(\\d+)z`, 'g');
/** Around the content of MJML ending tags (mj-text, mj-button), which MJML trims: see compiled-email.ts. */
export const REGION_BEGIN = `${SLOT_NONCE}b`;
export const REGION_END = `${SLOT_NONCE}e`;

function tokenFill(slots: Slot[]): Fill {
  const fill: Fill = (slot) => `${SLOT_NONCE}s${slots.push(slot) - 1}z`;
  fill.region = (content) => `${REGION_BEGIN}${content}${REGION_END}`;
  return fill;
}

/** The content of an mj-text or mj-button (MJML trims it; a compiled template trims it once filled). */
const region = (fill: Fill, content: string): string => (fill.region ? fill.region(content) : content);

/** Literal text with merge tags, as escaped HTML. */
function textHtml(template: string, fill: Fill): string {
  let out = '';
  for (const token of tokenizeMergeTags(template)) out += typeof token === 'string' ? escapeHtml(token) : fill({ kind: 'tag', tag: token });
  return out;
}

/** A URL attribute's escaped value: checked now when it has no merge tags, else once rendered. */
function urlHtml(template: string, fill: Fill): string {
  return hasMergeTags(template) ? fill({ kind: 'url', template }) : escapeHtml(safeUrl(template.trim()));
}

// ---------------------------------------------------------------------------
// Inline and raw HTML (sanitised on input, src/domain/sanitize-html.ts)

const VOID = new Set(['br', 'hr', 'img', 'col', 'wbr']);
const INLINE_TAGS = new Set(INLINE_HTML.tags);
const EMAIL_TAGS = new Set(EMAIL_HTML.tags);

function inlineNodes(nodes: ChildNode[], fill: Fill): string {
  let out = '';
  for (const node of nodes) {
    if (isText(node)) out += textHtml(node.data, fill);
    else if (isTag(node)) {
      const inner = () => inlineNodes(node.children, fill);
      if (!INLINE_TAGS.has(node.name)) out += inner();
      else if (node.name === 'br') out += '<br>';
      else if (node.name === 'a') out += `<a href="${urlHtml(node.attribs.href ?? '', fill)}" style="color:${LINK};" target="_blank">${inner()}</a>`;
      else out += `<${node.name}>${inner()}</${node.name}>`;
    }
  }
  return out;
}

function inlineBody(html: string, fill: Fill): string {
  return inlineNodes(parseDocument(html, { decodeEntities: true }).children, fill);
}

/**
 * Inline HTML (text blocks, list items) as it goes into the email: only
 * `<b> <i> <u> <strong> <em> <br> <a href>` (the sanitiser's INLINE_HTML), merge tag
 * values escaped, link targets checked after rendering.
 */
export function renderInlineHtml(template: string, ctx: MergeTagContext): string {
  const values = { ctx, subject: '', previewText: '', unsubscribeUrl: UNSUBSCRIBE_PLACEHOLDER };
  return inlineBody(sanitizeHtml(template, INLINE_HTML), directFill(values));
}

function rawNodes(nodes: ChildNode[], fill: Fill): string {
  let out = '';
  for (const node of nodes) {
    if (isText(node)) out += textHtml(node.data, fill);
    else if (isTag(node)) {
      const inner = rawNodes(node.children, fill);
      if (!EMAIL_TAGS.has(node.name)) {
        out += inner;
        continue;
      }
      let attributes = '';
      for (const [name, value] of Object.entries(node.attribs)) {
        // A merge tag in a URL attribute makes the whole value a URL slot, checked once rendered.
        const html = URL_ATTRIBUTES.has(name) && hasMergeTags(value) ? fill({ kind: 'url', template: value }) : textHtml(value, fill);
        attributes += ` ${name}="${html}"`;
      }
      out += VOID.has(node.name) ? `<${node.name}${attributes}>` : `<${node.name}${attributes}>${inner}</${node.name}>`;
    }
  }
  return out;
}

/** An `html` block's markup, merge tags rendered (escaped; in URL attributes, checked). */
function rawHtml(html: string, fill: Fill): string {
  return rawNodes(parseDocument(html, { decodeEntities: true }).children, fill);
}

// ---------------------------------------------------------------------------
// HTML (MJML)

const attr = (value: string | number): string => `"${escapeHtml(String(value))}"`;

/** Per email, the parts of the document whose shape (not only text) depends on the values. */
export interface EmailShape {
  /** Whether the preview text renders non-empty (an mj-preview or none). */
  preview: boolean;
  /** For each image block with an `href`, in document order: whether the link renders usable. */
  imageLinks: boolean[];
}

interface HtmlState {
  fill: Fill;
  shape: EmailShape;
  images: number;
  /** Raw HTML blocks, swapped in after MJML so MJML never parses them. */
  raw: string[];
}

function rawPlaceholder(state: HtmlState, html: string): string {
  state.raw.push(html);
  return `<!--stepwise-raw-${state.raw.length - 1}-->`;
}

const HEADING_SIZE = { 1: 28, 2: 22, 3: 18 } as const;
const TEXT_STYLE = {
  body: { size: 16, color: COLOR },
  muted: { size: 16, color: MUTED },
  small: { size: 13, color: MUTED },
} as const;

/** MJML for one block inside an mj-column. */
function columnBlockMjml(block: ColumnBlock, state: HtmlState): string {
  const { fill } = state;
  switch (block.type) {
    case 'heading': {
      const size = HEADING_SIZE[block.level];
      return `<mj-text font-size="${size}px" line-height="1.25" font-weight="700"><h${block.level} style="margin:0;font-size:${size}px;">${textHtml(block.text, fill)}</h${block.level}></mj-text>`;
    }
    case 'text': {
      const style = TEXT_STYLE[block.variant];
      const align = block.align ? ` align="${block.align}"` : '';
      return `<mj-text font-size="${style.size}px" color="${style.color}"${align}>${region(fill, inlineBody(block.text, fill))}</mj-text>`;
    }
    case 'button': {
      const align = block.align ? ` align="${block.align}"` : '';
      return `<mj-button href="${urlHtml(block.url, fill)}" background-color="${LINK}" color="#ffffff" font-size="16px" border-radius="6px" inner-padding="12px 24px"${align}>${region(fill, textHtml(block.text, fill))}</mj-button>`;
    }
    case 'image': {
      const width = block.width ? ` width="${block.width}px"` : '';
      // An unusable link (it renders `#`): no link.
      const linked = block.href !== undefined && state.shape.imageLinks[state.images++] === true;
      const href = linked ? ` href="${urlHtml(block.href!, fill)}"` : '';
      return `<mj-image src="${urlHtml(block.src, fill)}" alt="${textHtml(block.alt, fill)}"${width}${href} />`;
    }
    case 'list': {
      const tag = block.ordered ? 'ol' : 'ul';
      const items = block.items.map((item) => `<li>${inlineBody(item, fill)}</li>`).join('');
      return `<mj-text font-size="16px"><${tag} style="margin:0;padding-left:24px;">${items}</${tag}></mj-text>`;
    }
    case 'divider':
      return `<mj-divider border-width="1px" border-color="#e5e7eb" />`;
    case 'spacer':
      return `<mj-spacer height="${block.height}px" />`;
    case 'footer':
      return footerMjml(block.text, state);
    case 'html':
      // Inside a column, mj-raw would land directly in a <tbody>; mj-text gives it a cell.
      return `<mj-text padding="0">${rawPlaceholder(state, rawHtml(block.html, fill))}</mj-text>`;
  }
}

function footerMjml(text: string, state: HtmlState): string {
  const line = text.trim() === '' ? '' : `${textHtml(text, state.fill)}<br>`;
  const href = state.fill({ kind: 'unsubscribe' });
  return `<mj-text align="center" font-size="12px" color="${MUTED}" padding-top="24px">${region(state.fill, `${line}<a href="${href}" style="color:${MUTED};text-decoration:underline;" target="_blank">Unsubscribe</a>`)}</mj-text>`;
}

function bodyMjml(blocks: Block[], state: HtmlState): string {
  const parts: string[] = [];
  let run: string[] = [];
  const flush = () => {
    if (run.length) parts.push(`<mj-section><mj-column>${run.join('\n')}</mj-column></mj-section>`);
    run = [];
  };
  for (const block of blocks) {
    if (block.type === 'columns') {
      flush();
      const columns = block.columns.map(
        (column) => `<mj-column>${column.map((child) => columnBlockMjml(child, state)).join('\n')}</mj-column>`,
      );
      parts.push(`<mj-section>${columns.join('\n')}</mj-section>`);
    } else if (block.type === 'html') {
      flush();
      const html = rawHtml(block.html, state.fill);
      parts.push(`<mj-raw><div style="margin:0 auto;max-width:600px;">${rawPlaceholder(state, html)}</div></mj-raw>`);
    } else {
      run.push(columnBlockMjml(block, state));
    }
  }
  flush();
  return parts.join('\n');
}

let mjml2html: Promise<typeof import('mjml')> | undefined;

/**
 * Loads MJML (half a second of module loading on one core), once per process, when
 * a document is first compiled: a worker filling stored templates never does
 * (compiled-email.ts, engine/compiled-emails.ts).
 */
async function loadMjml(): Promise<void> {
  mjml2html ??= import('mjml').then((module) => module.default);
  await mjml2html;
}

/** The whole document as HTML, its slots written by `fill`. */
async function documentHtml(blocks: Block[], fill: Fill, shape: EmailShape): Promise<string> {
  const state: HtmlState = { fill, shape, images: 0, raw: [] };
  const body = bodyMjml(blocks, state);
  const head = [
    `<mj-title>${fill({ kind: 'subject' })}</mj-title>`,
    shape.preview ? `<mj-preview>${fill({ kind: 'previewText' })}</mj-preview>` : '',
    `<mj-attributes><mj-all font-family="${FONT}" /><mj-text color="${COLOR}" line-height="1.5" /></mj-attributes>`,
  ].join('');
  const mjml = `<mjml><mj-head>${head}</mj-head><mj-body background-color="#ffffff" width="600px">${body}</mj-body></mjml>`;

  // Loaded by the first document (a process that compiles none does without it); compiled templates are cached and stored (compiled-email.ts).
  await loadMjml();
  const result = await (await mjml2html!)(mjml, {
    validationLevel: 'soft',
    minify: false,
    beautify: false,
    fonts: {},
    keepComments: true,
    ignoreIncludes: true,
  });
  return result.html.replace(/<!--stepwise-raw-(\d+)-->/g, (_m, i: string) => state.raw[Number(i)] ?? '');
}

// ---------------------------------------------------------------------------
// Plain text

const inlineToText = compile({
  wordwrap: false,
  selectors: [
    { selector: 'a', options: { hideLinkHrefIfSameAsText: true, linkBrackets: ['(', ')'] } },
    { selector: 'img', format: 'skip' },
  ],
});

const documentToText = compile({
  wordwrap: 78,
  selectors: [
    { selector: 'a', options: { hideLinkHrefIfSameAsText: true, linkBrackets: ['(', ')'] } },
    { selector: 'img', format: 'skip' },
  ],
});

function columnBlockText(block: ColumnBlock, ctx: MergeTagContext, unsubscribeUrl: string): string {
  const fill = directFill({ ctx, subject: '', previewText: '', unsubscribeUrl });
  switch (block.type) {
    case 'heading':
      return renderText(block.text, ctx);
    case 'text':
      return inlineToText(inlineBody(block.text, fill));
    case 'button':
      return `${renderText(block.text, ctx)}: ${renderUrl(block.url, ctx)}`;
    case 'image': {
      const alt = renderText(block.alt, ctx).trim();
      const link = block.href ? renderUrl(block.href, ctx) : '#';
      const href = link === '#' ? '' : link;
      return alt && href ? `${alt}: ${href}` : alt || href;
    }
    case 'list':
      return block.items
        .map((item, i) => `${block.ordered ? `${i + 1}.` : '-'} ${inlineToText(inlineBody(item, fill))}`)
        .join('\n');
    case 'divider':
      return '---';
    case 'spacer':
      return '';
    case 'footer':
      return footerText(block.text, ctx, unsubscribeUrl);
    case 'html':
      return documentToText(rawHtml(block.html, fill));
  }
}

function footerText(text: string, ctx: MergeTagContext, unsubscribeUrl: string): string {
  const line = renderText(text, ctx).trim();
  return `${line ? `${line}\n` : ''}Unsubscribe: ${unsubscribeUrl}`;
}

// A text or list block's plain text compiled once per step version, like the HTML:
// html-to-text run over the block with placeholder tokens, split at them, then
// filled per email with the tags' values. A value goes in verbatim only where the
// per-email path would give it back unchanged: not empty and without whitespace
// or control characters (html-to-text collapses whitespace across a value's
// edges) — any other value renders that block per email. Blocks with links are
// not compiled (html-to-text compares a link's text with its href).

/** A block's plain text for one email's merge-tag values; null when a value needs the per-email path. */
type TextTemplate = (ctx: MergeTagContext) => string | null;

/**
 * Per step version: the plain text of blocks without merge tags, the compiled
 * text of those with them (null: rendered per email).
 */
export type TextMemo = WeakMap<ColumnBlock, string | TextTemplate | null>;

/** SLOT_TOKEN without its global flag, for split. */
const TEXT_TOKEN = new RegExp(SLOT_TOKEN.source);
const VERBATIM = /^[^\s\p{Cc}\p{Cf}]+$/u;

function inlineTextTemplate(html: string): TextTemplate | null {
  const slots: Slot[] = [];
  const body = inlineBody(html, tokenFill(slots));
  if (body.includes('<a ') || slots.some((slot) => slot.kind !== 'tag')) return null;
  const parts = inlineToText(body).split(TEXT_TOKEN);
  return (ctx) => {
    let out = parts[0]!;
    for (let i = 1; i < parts.length; i += 2) {
      const value = mergeTagValue((slots[Number(parts[i])] as { tag: MergeTag }).tag, ctx);
      if (!VERBATIM.test(value)) return null;
      out += value + parts[i + 1]!;
    }
    return out;
  };
}

function textTemplate(block: ColumnBlock): TextTemplate | null {
  if (block.type === 'text') return inlineTextTemplate(block.text);
  if (block.type !== 'list') return null;
  const items = block.items.map(inlineTextTemplate);
  if (items.some((item) => !item)) return null;
  return (ctx) => {
    const lines: string[] = [];
    for (const [i, item] of items.entries()) {
      const text = item!(ctx);
      if (text === null) return null;
      lines.push(`${block.ordered ? `${i + 1}.` : '-'} ${text}`);
    }
    return lines.join('\n');
  };
}

/**
 * The plain-text part. `memo` keeps the text of blocks without merge tags and the
 * compiled text of those with them (the compiled template passes one per step version).
 */
export function bodyText(blocks: Block[], ctx: MergeTagContext, unsubscribeUrl: string, memo?: TextMemo): string {
  const textOf = (block: ColumnBlock): string => {
    if (!memo || block.type === 'footer') return columnBlockText(block, ctx, unsubscribeUrl);
    let known = memo.get(block);
    if (known === undefined) {
      known = JSON.stringify(block).includes('{{') ? textTemplate(block) : columnBlockText(block, ctx, unsubscribeUrl);
      memo.set(block, known);
    }
    if (typeof known === 'string') return known;
    return known?.(ctx) ?? columnBlockText(block, ctx, unsubscribeUrl);
  };
  const parts: string[] = [];
  for (const block of blocks) {
    if (block.type === 'columns') {
      for (const column of block.columns) for (const child of column) parts.push(textOf(child));
    } else {
      parts.push(textOf(block));
    }
  }
  return `${parts
    .map((part) => part.trim())
    .filter((part) => part !== '')
    .join('\n\n')}\n`;
}

// ---------------------------------------------------------------------------

function hasFooter(blocks: Block[]): boolean {
  return blocks.some(
    (block) =>
      block.type === 'footer' ||
      (block.type === 'columns' && block.columns.some((column) => column.some((child) => child.type === 'footer'))),
  );
}

/** One line: header values must not carry newlines. */
function singleLine(value: string): string {
  return value.replace(/\s*[\r\n]+\s*/g, ' ').trim();
}

/** The blocks as rendered: non-transactional emails get the default footer when they have none. */
export function withFooter(blocks: Block[], transactional: boolean): Block[] {
  return transactional || hasFooter(blocks) ? blocks : [...blocks, { id: '__footer', type: 'footer', text: DEFAULT_FOOTER_TEXT }];
}

/** Subject and preview text for one email (merge tags in text mode, one line). */
export function headerValues(subject: string, previewText: string | null | undefined, ctx: MergeTagContext) {
  return { subject: singleLine(renderText(subject, ctx)), previewText: singleLine(renderText(previewText ?? '', ctx)) };
}

function eachColumnBlock(blocks: Block[], visit: (block: ColumnBlock) => void): void {
  for (const block of blocks) {
    if (block.type === 'columns') for (const column of block.columns) for (const child of column) visit(child);
    else visit(block);
  }
}

/** The email's shape for these values (see EmailShape); `blocks` as given to the builder. */
export function shapeOf(blocks: Block[], values: SlotValues): EmailShape {
  const imageLinks: boolean[] = [];
  eachColumnBlock(blocks, (block) => {
    if (block.type === 'image' && block.href !== undefined) imageLinks.push(renderUrl(block.href, values.ctx) !== '#');
  });
  return { preview: values.previewText !== '', imageLinks };
}

/**
 * The shape most of a step's emails take, known before any subscriber's values
 * (compiled when a sequence goes live): the preview text renders unless there is
 * none, an image link is usable unless it is known not to be.
 */
export function likelyShape(blocks: Block[], previewText: string | null): EmailShape {
  const none: MergeTagContext = { subscriber: { email: '', firstName: null, lastName: null, attributes: {} }, event: null, discount: null };
  const imageLinks: boolean[] = [];
  eachColumnBlock(blocks, (block) => {
    if (block.type === 'image' && block.href !== undefined) imageLinks.push(hasMergeTags(block.href) || renderUrl(block.href, none) !== '#');
  });
  return { preview: Boolean(previewText?.trim()), imageLinks };
}

/** The shape as a cache key. */
export function shapeKey(shape: EmailShape): string {
  return `${shape.preview ? 'p' : '-'}${shape.imageLinks.map((linked) => (linked ? '1' : '0')).join('')}`;
}

/**
 * The document compiled once with placeholder tokens (SLOT_TOKEN) where `slots` go;
 * compiled-email.ts fills them per email.
 */
export async function compileEmailHtml(blocks: Block[], shape: EmailShape): Promise<{ html: string; slots: Slot[] }> {
  const slots: Slot[] = [];
  const html = await documentHtml(blocks, tokenFill(slots), shape);
  return { html, slots };
}

/**
 * Renders an email. Non-transactional emails always get an unsubscribe footer
 * (appended when the blocks have none); its link is `unsubscribeUrl` or `#unsubscribe`.
 */
export async function renderEmail(input: RenderEmailInput): Promise<RenderedEmail> {
  const { context: ctx } = input;
  const unsubscribeUrl = input.unsubscribeUrl ?? UNSUBSCRIBE_PLACEHOLDER;
  const blocks = withFooter(input.blocks, input.transactional);
  const { subject, previewText } = headerValues(input.subject, input.previewText, ctx);
  const values: SlotValues = { ctx, subject, previewText, unsubscribeUrl };
  const html = await documentHtml(blocks, directFill(values), shapeOf(blocks, values));
  return { subject, previewText, html, text: bodyText(blocks, ctx, unsubscribeUrl) };
}
