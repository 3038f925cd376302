import { escapeHtml } from './escape-html.js';
import { getPath } from './json-path.js';

export interface MergeTagSubscriber {
  email: string;
  firstName: string | null;
  lastName: string | null;
  attributes: Record<string, unknown>;
}

export interface MergeTagDiscount {
  code: string;
  percentOff: number | null;
  amountOff: number | null;
  currency: string | null;
  expiresAt: Date | null;
}

export interface MergeTagContext {
  subscriber: MergeTagSubscriber;
  event: Record<string, unknown> | null;
  discount: MergeTagDiscount | null;
}

/** Roots a template may reference; anything else renders its fallback. */
export const MERGE_TAG_ROOTS = ['subscriber', 'event', 'discount'] as const;

// `{{ path }}` or `{{ path | fallback }}`; braces are not allowed inside a tag.
// The one merge-tag pattern: everything else tokenizes with `tokenizeMergeTags`.
const TAG = /\{\{([^{}]*)\}\}/g;

/** One `{{ path | fallback }}` occurrence. */
export interface MergeTag {
  path: string;
  fallback: string;
}

/** A template as literal text and merge tags, in order; adjacent literals are joined. */
export type MergeTagToken = string | MergeTag;

function parseTag(inner: string): MergeTag {
  const bar = inner.indexOf('|');
  if (bar === -1) return { path: inner.trim(), fallback: '' };
  return { path: inner.slice(0, bar).trim(), fallback: inner.slice(bar + 1).trim() };
}

export function tokenizeMergeTags(template: string): MergeTagToken[] {
  const tokens: MergeTagToken[] = [];
  let last = 0;
  for (const match of template.matchAll(TAG)) {
    if (match.index > last) tokens.push(template.slice(last, match.index));
    tokens.push(parseTag(match[1] ?? ''));
    last = match.index + match[0].length;
  }
  if (last < template.length) tokens.push(template.slice(last));
  return tokens;
}

export function hasMergeTags(template: string): boolean {
  return template.includes('{{') && tokenizeMergeTags(template).some((t) => typeof t !== 'string');
}

/** The template with its merge tags removed (what validation of the literal part sees). */
export function stripMergeTags(template: string): string {
  return template.replace(TAG, '');
}

function lookup(ctx: MergeTagContext, path: string): unknown {
  const root = path.split('.', 1)[0];
  if (!(MERGE_TAG_ROOTS as readonly string[]).includes(root ?? '')) return undefined;
  return getPath(ctx, path);
}

/** Stringified value, or null when the tag should fall back. */
function stringify(value: unknown): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value === 'string') return value === '' ? null : value;
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') {
    return String(value);
  }
  if (value instanceof Date) {
    return Number.isNaN(value.getTime()) ? null : value.toISOString();
  }
  if (typeof value === 'object') return JSON.stringify(value);
  return null; // functions, symbols: nothing sensible to show
}

/** What one tag renders to, unescaped: its value, or its fallback. */
export function mergeTagValue(tag: MergeTag, ctx: MergeTagContext): string {
  return stringify(lookup(ctx, tag.path)) ?? tag.fallback;
}

function render(template: string, ctx: MergeTagContext, escape: (s: string) => string): string {
  if (!template.includes('{{')) return template;
  let out = '';
  for (const token of tokenizeMergeTags(template)) out += typeof token === 'string' ? token : escape(mergeTagValue(token, ctx));
  return out;
}

/** Plain-text rendering: values are inserted verbatim. */
export function renderText(template: string, ctx: MergeTagContext): string {
  return render(template, ctx, (s) => s);
}

/**
 * HTML rendering: values and fallbacks are escaped because both come from
 * user data/authoring and must not inject markup.
 */
export function renderHtml(template: string, ctx: MergeTagContext): string {
  return render(template, ctx, escapeHtml);
}

/** Distinct tag paths in order of first appearance (fallbacks stripped). */
export function listMergeTags(template: string): string[] {
  const seen = new Set<string>();
  for (const token of tokenizeMergeTags(template)) if (typeof token !== 'string') seen.add(token.path);
  return [...seen];
}
