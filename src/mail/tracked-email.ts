// An email step as it goes out: rendered with its signed unsubscribe link, every
// http(s) link in the HTML rewritten to its signed click redirect, an open pixel
// at the end of the body, and the RFC 8058 one-click unsubscribe headers. The
// sender and the preview both call renderTrackedStep, with the message's id or
// PREVIEW_MESSAGE_ID, so a preview differs from what is sent only in the
// per-message tracking URLs (and a preview's links never redirect: see
// tracking-routes.ts).
//
// renderTrackedStep fills the step's compiled template (compiled-email.ts);
// renderTrackedStepOnce renders everything for one email (MJML included) and is
// what the compiled path is tested against.
import render from 'dom-serializer';
import { DomUtils, parseDocument } from 'htmlparser2';
import type { MergeTagContext } from '../domain/merge-tags.js';
import { isTrackableUrl, trackingUrl, type TrackingKeys } from '../domain/tracking-links.js';
import { appendPixel, compiledStep, fillHtml, type MessageLinks } from './compiled-email.js';
import { UNSUBSCRIBE_PLACEHOLDER, bodyText, headerValues, shapeOf, type RenderedEmail } from './render.js';
import { renderStep, type EmailStepContent } from './render-step.js';

export interface TrackedEmail extends RenderedEmail {
  /** List-Unsubscribe and List-Unsubscribe-Post (none for transactional email). */
  headers: Record<string, string>;
}

export interface TrackedEmailOptions {
  context: MergeTagContext;
  transactional: boolean;
  /** The workspace the links are signed for. */
  workspaceId: string;
  messageId: string;
  keys: TrackingKeys;
}

/** A link's href as sent: absolute http(s) URLs go through the click redirect, except our own tracking links. */
function trackedHref(href: string, clickUrl: (url: string) => string, skipPrefix: string): string {
  const url = href.trim();
  return isTrackableUrl(url) && !url.startsWith(skipPrefix) ? clickUrl(url) : href;
}

/**
 * Rewrites `<a href>` / `<area href>` http(s) links through `clickUrl` (links that
 * already point at `skipPrefix`, i.e. our own unsubscribe link, are left) and
 * appends `pixelUrl` as a 1×1 image at the end of the body.
 */
export function addTracking(html: string, options: { clickUrl: (url: string) => string; pixelUrl: string; skipPrefix: string }): string {
  const document = parseDocument(html);
  const links = DomUtils.findAll((el) => (el.name === 'a' || el.name === 'area') && typeof el.attribs.href === 'string', document.children);
  for (const link of links) link.attribs.href = trackedHref(link.attribs.href!, options.clickUrl, options.skipPrefix);
  appendPixel(document, options.pixelUrl);
  // Entities are decoded on parsing and only & < > " ' encoded again: the same markup.
  return render(document, { encodeEntities: 'utf8' });
}

function messageLinks(options: TrackedEmailOptions): MessageLinks & { unsubscribeUrl: string | null; skipPrefix: string } {
  const { keys, messageId, workspaceId } = options;
  const skipPrefix = `${keys.baseUrl}/t/`;
  const clickUrl = (url: string) => trackingUrl(keys, { kind: 'click', workspaceId, messageId, url });
  return {
    unsubscribeUrl: options.transactional ? null : trackingUrl(keys, { kind: 'unsubscribe', workspaceId, messageId }),
    pixelUrl: trackingUrl(keys, { kind: 'open', workspaceId, messageId }),
    link: (href) => trackedHref(href, clickUrl, skipPrefix),
    skipPrefix,
  };
}

function unsubscribeHeaders(unsubscribeUrl: string | null): Record<string, string> {
  return unsubscribeUrl ? { 'List-Unsubscribe': `<${unsubscribeUrl}>`, 'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click' } : {};
}

/** One email rendered from scratch: MJML compiled for it, then its links rewritten. */
export async function renderTrackedStepOnce(step: EmailStepContent, options: TrackedEmailOptions): Promise<TrackedEmail> {
  const links = messageLinks(options);
  const rendered = await renderStep(step, { context: options.context, transactional: options.transactional, unsubscribeUrl: links.unsubscribeUrl });
  const html = addTracking(rendered.html, {
    clickUrl: (url) => trackingUrl(options.keys, { kind: 'click', workspaceId: options.workspaceId, messageId: options.messageId, url }),
    pixelUrl: links.pixelUrl,
    skipPrefix: links.skipPrefix,
  });
  return { ...rendered, html, headers: unsubscribeHeaders(links.unsubscribeUrl) };
}

/**
 * The email for one message: the step's compiled template (compiled once per step
 * version, or stored: `step.compiled`, its CompiledEmail rows), filled.
 */
export async function renderTrackedStep(
  step: EmailStepContent & { id?: string; compiled?: Record<string, unknown> | null },
  options: TrackedEmailOptions,
): Promise<TrackedEmail> {
  const compiled = compiledStep(step, options.transactional, step.compiled);
  const links = messageLinks(options);
  const unsubscribeUrl = links.unsubscribeUrl ?? UNSUBSCRIBE_PLACEHOLDER;
  const { subject, previewText } = headerValues(step.subject ?? '', step.previewText, options.context);
  const values = { ctx: options.context, subject, previewText, unsubscribeUrl };
  const template = await compiled.html(shapeOf(compiled.blocks, values));
  if (!template) return renderTrackedStepOnce(step, options);
  return {
    subject,
    previewText,
    html: fillHtml(template, values, links),
    text: bodyText(compiled.blocks, options.context, unsubscribeUrl, compiled.textMemo),
    headers: unsubscribeHeaders(links.unsubscribeUrl),
  };
}
