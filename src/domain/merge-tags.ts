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
const TAG = /\{\{([^{}]*)\}\}/g;

interface ParsedTag {
  path: string;
  fallback: string;
}

function parseTag(inner: string): ParsedTag {
  const bar = inner.indexOf('|');
  if (bar === -1) return { path: inner.trim(), fallback: '' };
  return { path: inner.slice(0, bar).trim(), fallback: inner.slice(bar + 1).trim() };
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

function render(template: string, ctx: MergeTagContext, escape: (s: string) => string): string {
  return template.replace(TAG, (_match, inner: string) => {
    const { path, fallback } = parseTag(inner);
    return escape(stringify(lookup(ctx, path)) ?? fallback);
  });
}

export function escapeHtml(value: string): string {
  return value
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
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
  for (const match of template.matchAll(TAG)) {
    seen.add(parseTag(match[1] ?? '').path);
  }
  return [...seen];
}
