// A step's email compiled once, then filled per message.
//
// MJML costs tens of milliseconds per document and cannot compile partials, so
// the whole document is compiled once per step version with placeholder tokens
// where the subscriber's values go (render.ts `compileEmailHtml`). The tracking
// rewrite (tracked-email.ts `addTracking`) is then applied once to that HTML as
// well: each link becomes a slot, the open pixel is added, and the result is
// split into static chunks and slots. Sending an email is then only the chunks
// joined with its values, each escaped for where it sits (text or attribute),
// URLs checked (renderUrl) and links signed for the message.
//
// The result is the same string the per-email path gives (MJML with the values,
// then addTracking); test/mail/compiled-email.test.ts compares them. Where a value's
// place could make them differ (a token inside a comment, a style element or a
// partly templated link), the compile gives up and the per-email path is used.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import render from 'dom-serializer';
import { Element, isTag, isText, type AnyNode, type ChildNode, type ParentNode } from 'domhandler';
import { escapeAttribute, escapeText } from 'entities';
import { DomUtils, parseDocument } from 'htmlparser2';
import { normalizeBlocks, type Block } from '../domain/blocks.js';
import { isTrackableUrl } from '../domain/tracking-links.js';
import { REGION_BEGIN, REGION_END, SLOT_NONCE, SLOT_TOKEN, RENDER_MODULE, compileEmailHtml, shapeKey, slotValue, withFooter, type EmailShape, type Slot, type SlotValues, type TextMemo } from './render.js';

/** Where a slot's value lands in the final HTML. */
type Ref =
  | { kind: 'text'; slot: number }
  /** A whole attribute whose value holds slots (written bare when the value is empty, as dom-serializer does). */
  | { kind: 'attr'; name: string; template: string }
  /** An `<a href>` that is one URL slot (or the unsubscribe link): rewritten per message. */
  | { kind: 'link'; name: string; slot: number }
  /** An `<a href>` written in the template: signed per message. */
  | { kind: 'static-link'; name: string; href: string }
  | { kind: 'pixel' }
  /** The content of an MJML ending tag, which MJML trims: trimmed per email once filled. */
  | { kind: 'begin' | 'end' };

export interface CompiledHtml {
  /** One more than refs: chunk, ref, chunk, ..., chunk. */
  chunks: string[];
  refs: Ref[];
  slots: Slot[];
}

/** Elements whose text dom-serializer writes unescaped: a value there would not round-trip. */
const RAW_TEXT = new Set(['style', 'script', 'xmp', 'iframe', 'noembed', 'noframes', 'plaintext', 'noscript']);
const REF_TOKEN = new RegExp(`${SLOT_NONCE}r(\\d+)z`);
const WHOLE_SLOT = new RegExp(`^${SLOT_TOKEN.source}$`);
const TEXT_MARK = new RegExp(`${SLOT_TOKEN.source}|${REGION_BEGIN}|${REGION_END}`, 'g');

class Unsupported extends Error {}

/** The tracking rewrite of addTracking, applied once to the HTML with slot tokens. */
export function compileTracking(html: string, slots: Slot[]): CompiledHtml | null {
  const refs: Ref[] = [];
  const mark = (ref: Ref) => `${SLOT_NONCE}r${refs.push(ref) - 1}z`;
  const hasToken = (value: string) => value.includes(SLOT_NONCE);
  const document = parseDocument(html);
  try {
    const stack: AnyNode[] = [...document.children];
    while (stack.length) {
      const node = stack.pop()!;
      if (isText(node)) {
        if (!hasToken(node.data)) continue;
        const parent = node.parent;
        if (parent && isTag(parent) && RAW_TEXT.has(parent.name)) throw new Unsupported();
        node.data = node.data.replace(TEXT_MARK, (token, n: string | undefined) =>
          n !== undefined ? mark({ kind: 'text', slot: Number(n) }) : mark({ kind: token === REGION_BEGIN ? 'begin' : 'end' }),
        );
      } else if (isTag(node)) {
        if (Object.entries(node.attribs).some(([name, value]) => hasToken(name) || hasToken(value))) node.attribs = attributeRefs(node, mark);
        else if ((node.name === 'a' || node.name === 'area') && typeof node.attribs.href === 'string') node.attribs = attributeRefs(node, mark);
        stack.push(...node.children);
      } else if ('data' in node && typeof node.data === 'string' && hasToken(node.data)) {
        throw new Unsupported(); // a comment or processing instruction
      } else if ('children' in node) {
        stack.push(...(node as ParentNode).children);
      }
    }
  } catch (error) {
    if (error instanceof Unsupported) return null;
    throw error;
  }
  appendPixel(document, mark({ kind: 'pixel' }));
  const parts = render(document, { encodeEntities: 'utf8' }).split(REF_TOKEN);
  // split() with one capture group alternates chunk, ref index, chunk, ...
  const chunks: string[] = [];
  const ordered: Ref[] = [];
  parts.forEach((part, i) => (i % 2 === 0 ? chunks.push(part) : ordered.push(refs[Number(part)]!)));
  return { chunks, refs: ordered, slots };
}

/** The element's attributes, in order, with each templated attribute or link replaced by a ref (an attribute named by its token). */
function attributeRefs(node: Element, mark: (ref: Ref) => string): Record<string, string> {
  const link = node.name === 'a' || node.name === 'area';
  const attribs: Record<string, string> = {};
  for (const [name, value] of Object.entries(node.attribs)) {
    if (name.includes(SLOT_NONCE) || value.includes(REGION_BEGIN) || value.includes(REGION_END)) throw new Unsupported();
    if (link && name === 'href') {
      const whole = WHOLE_SLOT.exec(value);
      if (whole) attribs[mark({ kind: 'link', name, slot: Number(whole[1]) })] = '';
      else if (value.includes(SLOT_NONCE)) throw new Unsupported(); // a link only partly templated
      else if (isTrackableUrl(value.trim())) attribs[mark({ kind: 'static-link', name, href: value })] = '';
      else attribs[name] = value;
    } else if (value.includes(SLOT_NONCE)) {
      attribs[mark({ kind: 'attr', name, template: value })] = '';
    } else {
      attribs[name] = value;
    }
  }
  return attribs;
}

/** The 1×1 open pixel at the end of the body (or of the document); shared with addTracking. */
export function appendPixel(document: ParentNode, src: string): void {
  const pixel = new Element('img', {
    src,
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
}

/** How one message's links are written. */
export interface MessageLinks {
  /** A link's href as addTracking leaves or rewrites it. */
  link: (href: string) => string;
  pixelUrl: string;
}

/** An attribute as dom-serializer writes it: bare when empty. */
const attribute = (name: string, value: string): string => (value === '' ? name : `${name}="${escapeAttribute(value)}"`);

/** What MJML's trim() removes, in the serialised form (a no-break space is written `&nbsp;`). */
const EDGE_SPACE = /^(?:\s|&nbsp;)+|(?:\s|&nbsp;)+$/g;

export function fillHtml(compiled: CompiledHtml, values: SlotValues, links: MessageLinks): string {
  const { chunks, refs, slots } = compiled;
  const value = (slot: number) => slotValue(slots[slot]!, values);
  let out = chunks[0]!;
  let before = '';
  for (let i = 0; i < refs.length; i++) {
    const ref = refs[i]!;
    switch (ref.kind) {
      case 'text':
        out += escapeText(value(ref.slot));
        break;
      case 'attr':
        out += attribute(ref.name, ref.template.replace(SLOT_TOKEN, (_m, n: string) => value(Number(n))));
        break;
      case 'link':
        out += attribute(ref.name, links.link(value(ref.slot)));
        break;
      case 'static-link':
        out += attribute(ref.name, links.link(ref.href));
        break;
      case 'pixel':
        out += escapeAttribute(links.pixelUrl);
        break;
      case 'begin':
        before = out;
        out = '';
        break;
      case 'end':
        out = before + out.replace(EDGE_SPACE, '');
        break;
    }
    out += chunks[i + 1]!;
  }
  return out;
}

// ---------------------------------------------------------------------------
// The cache: one compiled step per step id, replaced when the step's content changes

export interface CompiledStep {
  /** The blocks as rendered (validated, sanitised, footer appended). */
  blocks: Block[];
  /** Plain-text parts: of blocks without merge tags, and compiled for those with them. */
  textMemo: TextMemo;
  /** The compiled HTML for a shape (render.ts EmailShape); null when it cannot be compiled. */
  html(shape: EmailShape): Promise<CompiledHtml | null>;
  /** Takes this version's stored templates (key → template), for shapes not compiled here. */
  seed(templates: Record<string, unknown>): void;
}

export interface StepVersion {
  /** The step's id: a new version replaces the old one in the cache. */
  id?: string;
  subject: string | null;
  previewText: string | null;
  blocks: unknown;
}

const MAX_STEPS = 500;
const cache = new Map<string, { version: string; compiled: CompiledStep }>();
/** How many documents were compiled, and how many of them could not be (tests and metrics). */
const counters = { compiles: 0, uncompilable: 0 };

// Stored templates (the CompiledEmail table): a shape compiled in one process is
// filled in any other without MJML, whose loading is most of a worker's start.
// A stored template's key names the step version, the shape, and what its meaning
// depends on: the format, MJML's version and this module's and render.ts' source
// (a changed renderer compiles again rather than fill an older template).

/** A compiled shape as stored: keyed `<version>/<shape>` per step. */
export interface StoredTemplate {
  stepId: string;
  key: string;
  template: { nonce: string; html: CompiledHtml };
}

const FORMAT = (() => {
  const source = (url: string) => {
    try {
      return readFileSync(fileURLToPath(url), 'utf8');
    } catch {
      return url;
    }
  };
  const mjml = (createRequire(import.meta.url)('mjml/package.json') as { version: string }).version;
  return createHash('sha256').update(`1\n${mjml}\n${source(import.meta.url)}\n${source(RENDER_MODULE)}`).digest('base64url').slice(0, 12);
})();

/** Shapes compiled in this process, not stored yet (takeUnstored). */
let unstored: StoredTemplate[] = [];
const MAX_UNSTORED = 100;

function compile(blocks: Block[], stepId: string | undefined, version: string): CompiledStep {
  const shapes = new Map<string, Promise<CompiledHtml | null>>();
  const stored = new Set<string>();
  return {
    blocks,
    textMemo: new WeakMap(),
    html(shape) {
      const key = shapeKey(shape);
      let found = shapes.get(key);
      if (!found) {
        counters.compiles++;
        found = compileEmailHtml(blocks, shape).then(({ html, slots }) => {
          const compiled = compileTracking(html, slots);
          if (!compiled) counters.uncompilable++;
          else if (stepId) {
            unstored.push({ stepId, key: `${version}/${key}`, template: { nonce: SLOT_NONCE, html: compiled } });
            // A process that never stores (previews in the API, tests) keeps only the latest.
            if (unstored.length > MAX_UNSTORED) unstored.shift();
          }
          return compiled;
        });
        found.catch(() => shapes.delete(key)); // a failed compile is tried again next time
        shapes.set(key, found);
      }
      return found;
    },
    seed(templates) {
      for (const [storedKey, template] of Object.entries(templates)) {
        const [of, key] = storedKey.split('/');
        if (of !== version || key === undefined || shapes.has(key) || stored.has(key)) continue;
        stored.add(key);
        shapes.set(key, Promise.resolve(restore(template as StoredTemplate['template'])));
      }
    },
  };
}

/** A stored template in this process' slot tokens (each process has its own nonce). */
function restore({ nonce, html }: StoredTemplate['template']): CompiledHtml {
  return nonce === SLOT_NONCE ? html : (JSON.parse(JSON.stringify(html).replaceAll(nonce, SLOT_NONCE)) as CompiledHtml);
}

/**
 * The version hash of a step object, per transactional flag: a batch renders many
 * emails from one loaded step, which is hashed once, not once per email.
 */
const versions = new WeakMap<StepVersion, [string?, string?]>();

function versionOf(step: StepVersion, transactional: boolean): string {
  let known = versions.get(step);
  if (!known) versions.set(step, (known = []));
  return (known[transactional ? 1 : 0] ??= createHash('sha256')
    .update(JSON.stringify([FORMAT, transactional, step.subject, step.previewText, step.blocks]))
    .digest('base64url'));
}

/**
 * The compiled form of this version of a step (compiled on first use, kept while
 * the step is unchanged). `stored`: the step's stored templates (CompiledEmail
 * rows, key → template); those of this version are filled without compiling.
 */
export function compiledStep(step: StepVersion, transactional: boolean, stored?: Record<string, unknown> | null): CompiledStep {
  const version = versionOf(step, transactional);
  const key = step.id ?? version;
  const hit = cache.get(key);
  if (hit && hit.version === version) {
    // Most recently used last, so the oldest entry is the one evicted.
    cache.delete(key);
    cache.set(key, hit);
    if (stored) hit.compiled.seed(stored);
    return hit.compiled;
  }
  const compiled = compile(withFooter(normalizeBlocks(step.blocks), transactional), step.id, version);
  if (stored) compiled.seed(stored);
  cache.set(key, { version, compiled });
  if (cache.size > MAX_STEPS) cache.delete(cache.keys().next().value!);
  return compiled;
}

/** The shapes compiled here since the last call, to be stored (engine/compiled-emails.ts). */
export function takeUnstored(): StoredTemplate[] {
  const taken = unstored;
  unstored = [];
  return taken;
}

/** Drops every compiled step and zeroes the counters (tests). */
export function clearCompiledSteps(): void {
  cache.clear();
  unstored = [];
  counters.compiles = 0;
  counters.uncompilable = 0;
}

export function compiledEmailStats(): { steps: number; compiles: number; uncompilable: number } {
  return { steps: cache.size, ...counters };
}
