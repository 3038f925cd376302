/**
 * Renders an email's blocks to its subject, preview text, responsive HTML (via MJML)
 * and plain-text part. Merge tags are rendered per field: HTML-escaped where the field
 * ends up in HTML, verbatim in the plain-text part.
 *
 * Async because `mjml2html` is async from mjml 5 on.
 */
import mjml2html from 'mjml';
import { compile } from 'html-to-text';
import { DEFAULT_FOOTER_TEXT, type Block, type ColumnBlock } from '../domain/blocks.js';
import { escapeHtml, renderHtml, renderText, type MergeTagContext } from '../domain/merge-tags.js';

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

const MERGE_TAG = /\{\{[^{}]*\}\}/g;

// ---------------------------------------------------------------------------
// Merge tags in URLs and inline HTML

/**
 * Renders merge tags in a URL template. A tag after a `?` (query or fragment) is
 * percent-encoded; a tag before it is inserted as is, so `{{event.url}}` can be a
 * whole URL. A result that is not an http(s)/mailto URL becomes `#`, so data can
 * never produce a `javascript:` link.
 */
export function renderUrl(template: string, ctx: MergeTagContext): string {
  let out = '';
  let last = 0;
  for (const match of template.matchAll(MERGE_TAG)) {
    out += template.slice(last, match.index);
    const value = renderText(match[0], ctx);
    out += out.includes('?') ? encodeURIComponent(value) : value;
    last = match.index + match[0].length;
  }
  out += template.slice(last);
  return safeUrl(out.trim());
}

function safeUrl(url: string): string {
  if (!/^(?:https?:\/\/|mailto:)/i.test(url)) return '#';
  return url.replace(/[\s"<>]/g, (c) => encodeURIComponent(c));
}

/** A plain-text field (heading, button label, alt) as escaped HTML. */
function plainHtml(template: string, ctx: MergeTagContext): string {
  return escapeHtml(renderText(template, ctx));
}

const INLINE_TAGS = new Set(['b', 'i', 'u', 'strong', 'em', 'br', 'a']);
const DROP_WITH_CONTENT = new Set(['script', 'style', 'head', 'title', 'template']);
const TOKEN =
  /<!--[\s\S]*?(?:-->|$)|<(\/?)([a-zA-Z][a-zA-Z0-9-]*)((?:\s+[^\s"'>/=]+(?:\s*=\s*(?:"[^"]*"|'[^']*'|[^\s"'=<>`]+))?)*)\s*\/?>/g;
const HREF = /\shref\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'=<>`]+))/i;

function decodeEntities(value: string): string {
  return value.replace(/&(?:#(\d+)|#x([0-9a-f]+)|(amp|lt|gt|quot|apos|#39));/gi, (m, dec, hex, name) => {
    if (dec) return String.fromCodePoint(Number(dec));
    if (hex) return String.fromCodePoint(parseInt(hex, 16));
    return { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" }[String(name).toLowerCase()] ?? "'";
  });
}

/** Authored text between tags: merge tags (escaped), then stray `<`, `>`, `&` escaped. */
function htmlText(segment: string, ctx: MergeTagContext): string {
  return renderHtml(segment, ctx)
    .replace(/&(?!(?:#\d+|#x[0-9a-f]+|[a-z][a-z0-9]*);)/gi, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;');
}

/**
 * Inline HTML (text blocks, list items): only `<b> <i> <u> <strong> <em> <br> <a href>`
 * survive; other tags are dropped (their text kept, except script/style), comments
 * removed, merge tag values escaped and link targets checked.
 */
export function renderInlineHtml(template: string, ctx: MergeTagContext): string {
  let out = '';
  let last = 0;
  let dropping: string | null = null;
  for (const match of template.matchAll(TOKEN)) {
    const [token, closing, rawName, attrs] = match;
    if (dropping === null) out += htmlText(template.slice(last, match.index), ctx);
    last = match.index + token.length;
    if (rawName === undefined) continue; // comment
    const name = rawName.toLowerCase();
    if (dropping !== null) {
      if (closing && name === dropping) dropping = null;
      continue;
    }
    if (DROP_WITH_CONTENT.has(name)) {
      if (!closing && !token.endsWith('/>')) dropping = name;
      continue;
    }
    if (!INLINE_TAGS.has(name)) continue;
    if (name === 'br') out += '<br>';
    else if (closing) out += `</${name}>`;
    else if (name === 'a') {
      const href = HREF.exec(attrs ?? '');
      const raw = href ? decodeEntities(href[1] ?? href[2] ?? href[3] ?? '') : '';
      out += `<a href="${escapeHtml(renderUrl(raw, ctx))}" style="color:${LINK};" target="_blank">`;
    } else out += `<${name}>`;
  }
  if (dropping === null) out += htmlText(template.slice(last), ctx);
  return out;
}

/**
 * Raw HTML from imports: merge tags rendered (escaped). A whole document is reduced
 * to its `<style>` elements and the body's content so it can sit inside the email.
 */
function rawHtml(template: string, ctx: MergeTagContext): string {
  const html = renderHtml(template, ctx);
  const body = /<body\b[^>]*>([\s\S]*?)(?:<\/body\s*>|$)/i.exec(html);
  if (!body) return html;
  const styles = html.slice(0, body.index).match(/<style\b[^>]*>[\s\S]*?<\/style\s*>/gi) ?? [];
  return [...styles, body[1] ?? ''].join('\n');
}

// ---------------------------------------------------------------------------
// HTML (MJML)

const attr = (value: string | number): string => `"${escapeHtml(String(value))}"`;

interface HtmlState {
  ctx: MergeTagContext;
  unsubscribeUrl: string;
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
  const { ctx } = state;
  switch (block.type) {
    case 'heading': {
      const size = HEADING_SIZE[block.level];
      return `<mj-text font-size="${size}px" line-height="1.25" font-weight="700"><h${block.level} style="margin:0;font-size:${size}px;">${plainHtml(block.text, ctx)}</h${block.level}></mj-text>`;
    }
    case 'text': {
      const style = TEXT_STYLE[block.variant];
      const align = block.align ? ` align="${block.align}"` : '';
      return `<mj-text font-size="${style.size}px" color="${style.color}"${align}>${renderInlineHtml(block.text, ctx)}</mj-text>`;
    }
    case 'button': {
      const align = block.align ? ` align="${block.align}"` : '';
      return `<mj-button href=${attr(renderUrl(block.url, ctx))} background-color="${LINK}" color="#ffffff" font-size="16px" border-radius="6px" inner-padding="12px 24px"${align}>${plainHtml(block.text, ctx)}</mj-button>`;
    }
    case 'image': {
      const width = block.width ? ` width="${block.width}px"` : '';
      const link = block.href ? renderUrl(block.href, ctx) : '#';
      const href = link === '#' ? '' : ` href=${attr(link)}`; // an unusable link: no link
      return `<mj-image src=${attr(renderUrl(block.src, ctx))} alt=${attr(renderText(block.alt, ctx))}${width}${href} />`;
    }
    case 'list': {
      const tag = block.ordered ? 'ol' : 'ul';
      const items = block.items.map((item) => `<li>${renderInlineHtml(item, ctx)}</li>`).join('');
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
      return `<mj-text padding="0">${rawPlaceholder(state, rawHtml(block.html, ctx))}</mj-text>`;
  }
}

function footerMjml(text: string, state: HtmlState): string {
  const line = text.trim() === '' ? '' : `${plainHtml(text, state.ctx)}<br>`;
  const href = escapeHtml(state.unsubscribeUrl);
  return `<mj-text align="center" font-size="12px" color="${MUTED}" padding-top="24px">${line}<a href="${href}" style="color:${MUTED};text-decoration:underline;" target="_blank">Unsubscribe</a></mj-text>`;
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
      const html = rawHtml(block.html, state.ctx);
      parts.push(`<mj-raw><div style="margin:0 auto;max-width:600px;">${rawPlaceholder(state, html)}</div></mj-raw>`);
    } else {
      run.push(columnBlockMjml(block, state));
    }
  }
  flush();
  return parts.join('\n');
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
  switch (block.type) {
    case 'heading':
      return renderText(block.text, ctx);
    case 'text':
      return inlineToText(renderInlineHtml(block.text, ctx));
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
        .map((item, i) => `${block.ordered ? `${i + 1}.` : '-'} ${inlineToText(renderInlineHtml(item, ctx))}`)
        .join('\n');
    case 'divider':
      return '---';
    case 'spacer':
      return '';
    case 'footer':
      return footerText(block.text, ctx, unsubscribeUrl);
    case 'html':
      return documentToText(rawHtml(block.html, ctx));
  }
}

function footerText(text: string, ctx: MergeTagContext, unsubscribeUrl: string): string {
  const line = renderText(text, ctx).trim();
  return `${line ? `${line}\n` : ''}Unsubscribe: ${unsubscribeUrl}`;
}

function bodyText(blocks: Block[], ctx: MergeTagContext, unsubscribeUrl: string): string {
  const parts: string[] = [];
  for (const block of blocks) {
    if (block.type === 'columns') {
      for (const column of block.columns) for (const child of column) parts.push(columnBlockText(child, ctx, unsubscribeUrl));
    } else {
      parts.push(columnBlockText(block, ctx, unsubscribeUrl));
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

/**
 * Renders an email. Non-transactional emails always get an unsubscribe footer
 * (appended when the blocks have none); its link is `unsubscribeUrl` or `#unsubscribe`.
 */
export async function renderEmail(input: RenderEmailInput): Promise<RenderedEmail> {
  const { context: ctx, transactional } = input;
  const unsubscribeUrl = input.unsubscribeUrl ?? UNSUBSCRIBE_PLACEHOLDER;
  const blocks: Block[] =
    transactional || hasFooter(input.blocks)
      ? input.blocks
      : [...input.blocks, { id: '__footer', type: 'footer', text: DEFAULT_FOOTER_TEXT }];

  const subject = singleLine(renderText(input.subject, ctx));
  const previewText = singleLine(renderText(input.previewText ?? '', ctx));

  const state: HtmlState = { ctx, unsubscribeUrl, raw: [] };
  const body = bodyMjml(blocks, state);
  const head = [
    `<mj-title>${escapeHtml(subject)}</mj-title>`,
    previewText ? `<mj-preview>${escapeHtml(previewText)}</mj-preview>` : '',
    `<mj-attributes><mj-all font-family="${FONT}" /><mj-text color="${COLOR}" line-height="1.5" /></mj-attributes>`,
  ].join('');
  const mjml = `<mjml><mj-head>${head}</mj-head><mj-body background-color="#ffffff" width="600px">${body}</mj-body></mjml>`;

  const result = await mjml2html(mjml, {
    validationLevel: 'soft',
    minify: false,
    beautify: false,
    fonts: {},
    keepComments: true,
    ignoreIncludes: true,
  });
  const html = result.html.replace(/<!--stepwise-raw-(\d+)-->/g, (_m, i: string) => state.raw[Number(i)] ?? '');

  return { subject, previewText, html, text: bodyText(blocks, ctx, unsubscribeUrl) };
}
