// An email step as it goes out: rendered (render-step.ts) with its signed
// unsubscribe link, every http(s) link in the HTML rewritten to its signed click
// redirect, an open pixel at the end of the body, and the RFC 8058 one-click
// unsubscribe headers. The sender and the preview both call this, with the
// message's id or PREVIEW_MESSAGE_ID, so a preview differs from what is sent only
// in the per-message tracking URLs.
import render from 'dom-serializer';
import { Element, type ChildNode } from 'domhandler';
import { DomUtils, parseDocument } from 'htmlparser2';
import type { MergeTagContext } from '../domain/merge-tags.js';
import { isTrackableUrl, trackingUrl, type TrackingKeys } from '../domain/tracking-links.js';
import type { RenderedEmail } from './render.js';
import { renderStep, type EmailStepContent } from './render-step.js';

export interface TrackedEmail extends RenderedEmail {
  /** List-Unsubscribe and List-Unsubscribe-Post (none for transactional email). */
  headers: Record<string, string>;
}

/**
 * Rewrites `<a href>` / `<area href>` http(s) links through `clickUrl` (links that
 * already point at `skipPrefix`, i.e. our own unsubscribe link, are left) and
 * appends `pixelUrl` as a 1×1 image at the end of the body.
 */
export function addTracking(html: string, options: { clickUrl: (url: string) => string; pixelUrl: string; skipPrefix: string }): string {
  const document = parseDocument(html);
  const links = DomUtils.findAll((el) => (el.name === 'a' || el.name === 'area') && typeof el.attribs.href === 'string', document.children);
  for (const link of links) {
    const href = link.attribs.href!.trim();
    if (!isTrackableUrl(href) || href.startsWith(options.skipPrefix)) continue;
    link.attribs.href = options.clickUrl(href);
  }
  const pixel = new Element('img', {
    src: options.pixelUrl,
    width: '1',
    height: '1',
    alt: '',
    style: 'display:block;width:1px;height:1px;border:0;margin:0;padding:0;',
  });
  const body = DomUtils.findOne((el) => el.name === 'body', document.children);
  if (body) DomUtils.appendChild(body, pixel);
  else {
    const last: ChildNode | undefined = document.children.at(-1);
    if (last) DomUtils.append(last, pixel);
    else DomUtils.appendChild(document, pixel);
  }
  // Entities are decoded on parsing and only & < > " ' encoded again: the same markup.
  return render(document, { encodeEntities: 'utf8' });
}

export async function renderTrackedStep(
  step: EmailStepContent,
  options: { context: MergeTagContext; transactional: boolean; messageId: string; keys: TrackingKeys },
): Promise<TrackedEmail> {
  const { keys, messageId } = options;
  const unsubscribeUrl = options.transactional ? null : trackingUrl(keys, 'unsubscribe', messageId);
  const rendered = await renderStep(step, { context: options.context, transactional: options.transactional, unsubscribeUrl });
  const html = addTracking(rendered.html, {
    clickUrl: (url) => trackingUrl(keys, 'click', messageId, url),
    pixelUrl: trackingUrl(keys, 'open', messageId),
    skipPrefix: `${keys.baseUrl}/t/`,
  });
  const headers: Record<string, string> = unsubscribeUrl
    ? { 'List-Unsubscribe': `<${unsubscribeUrl}>`, 'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click' }
    : {};
  return { ...rendered, html, headers };
}
