/**
 * The one HTML sanitiser. Every piece of HTML that enters Stepwise (`html` blocks,
 * the inline HTML of `text` blocks and list items, imported HTML) passes through
 * `sanitizeHtml` with one of the named allow-lists below when it is validated
 * (`normalizeBlocks`), so what is stored, previewed and sent is already clean.
 *
 * Built on sanitize-html (htmlparser2): anything not on the list goes. Scripts,
 * styles, embedded documents (`iframe`, `object`, `srcdoc`), `base`, `meta`
 * (refresh), forms, comments and every `on*` attribute are removed; URL attributes
 * keep only http(s) and mailto URLs (and relative ones, which is what a merge tag
 * such as `{{event.url}}` looks like before rendering: the renderer checks the URL
 * again once the tag has a value, see src/mail/render.ts).
 *
 * Merge tags pass through as text; a fallback's `&` or `<` is entity-encoded like
 * any other text and decoded again when the renderer parses the HTML.
 */
import sanitize from 'sanitize-html';

export interface AllowList {
  /** Elements kept (their content is kept for every other element except those in DROPPED). */
  tags: readonly string[];
  /** Attributes kept, per element; `*` for every element. */
  attributes: Readonly<Record<string, readonly string[]>>;
}

/** Inline formatting of `text` blocks and list items. */
export const INLINE_HTML: AllowList = {
  tags: ['b', 'strong', 'i', 'em', 'u', 'br', 'a'],
  attributes: { a: ['href'] },
};

/** What email HTML is made of: layout tables, text formatting, images and links; no scripts, forms or embeds. */
export const EMAIL_HTML: AllowList = {
  tags: [
    'a', 'abbr', 'address', 'article', 'aside', 'b', 'bdi', 'bdo', 'big', 'blockquote', 'br', 'caption', 'center',
    'cite', 'code', 'col', 'colgroup', 'dd', 'del', 'dfn', 'div', 'dl', 'dt', 'em', 'figcaption', 'figure', 'font',
    'footer', 'h1', 'h2', 'h3', 'h4', 'h5', 'h6', 'header', 'hr', 'i', 'img', 'ins', 'kbd', 'li', 'main', 'mark',
    'nav', 'ol', 'p', 'pre', 'q', 's', 'samp', 'section', 'small', 'span', 'strike', 'strong', 'sub', 'sup', 'table',
    'tbody', 'td', 'tfoot', 'th', 'thead', 'time', 'tr', 'tt', 'u', 'ul', 'var', 'wbr',
  ],
  attributes: {
    '*': ['align', 'valign', 'width', 'height', 'bgcolor', 'background', 'style', 'class', 'dir', 'lang', 'title', 'role', 'hidden', 'border'],
    a: ['href', 'name', 'target', 'rel'],
    img: ['src', 'alt', 'hspace', 'vspace'],
    table: ['cellpadding', 'cellspacing', 'summary', 'frame', 'rules'],
    td: ['colspan', 'rowspan', 'headers', 'scope', 'nowrap'],
    th: ['colspan', 'rowspan', 'headers', 'scope', 'nowrap'],
    col: ['span'],
    colgroup: ['span'],
    font: ['color', 'face', 'size'],
    ol: ['start', 'type', 'reversed'],
    ul: ['type'],
    li: ['value'],
    blockquote: ['cite'],
    q: ['cite'],
    del: ['cite', 'datetime'],
    ins: ['cite', 'datetime'],
    time: ['datetime'],
  },
};

/** Attributes whose value is a URL (checked again after merge tags are rendered). */
export const URL_ATTRIBUTES: ReadonlySet<string> = new Set(['href', 'src', 'background', 'cite']);

/** Removed together with their content (text included), not only their tags. */
const DROPPED = ['script', 'style', 'title', 'head', 'textarea', 'option', 'noscript', 'iframe', 'object', 'template', 'noembed', 'noframes', 'xmp', 'svg', 'math'];

/** Deeper elements lose their tags (their text stays): renderers walk the tree recursively. */
export const MAX_NESTING = 200;

/** CSS that can run code or load something in old clients: the whole `style` attribute goes. */
const UNSAFE_STYLE = /expression\s*\(|javascript:|vbscript:|-moz-binding|behavior\s*:|@import|\\|\/\*/i;

const options = new Map<AllowList, sanitize.IOptions>();

function optionsFor(list: AllowList): sanitize.IOptions {
  let found = options.get(list);
  if (!found) {
    found = {
      allowedTags: [...list.tags],
      allowedAttributes: Object.fromEntries(Object.entries(list.attributes).map(([tag, names]) => [tag, [...names]])),
      allowedSchemes: ['http', 'https', 'mailto'],
      // cid: an image attached to the email itself.
      allowedSchemesByTag: { img: ['http', 'https', 'cid'] },
      allowedSchemesAppliedToAttributes: [...URL_ATTRIBUTES],
      allowProtocolRelative: true,
      disallowedTagsMode: 'discard',
      nonTextTags: DROPPED,
      nestingLimit: MAX_NESTING,
      // Keeps the attribute quoting predictable for the renderer, and drops unsafe CSS.
      transformTags: {
        '*': (tagName, attribs) => {
          if (attribs.style !== undefined && UNSAFE_STYLE.test(attribs.style)) {
            const { style: _style, ...rest } = attribs;
            return { tagName, attribs: rest };
          }
          return { tagName, attribs };
        },
      },
    };
    options.set(list, found);
  }
  return found;
}

/** The HTML with only what `list` allows; void elements written `<br>`, not `<br />`. */
export function sanitizeHtml(html: string, list: AllowList): string {
  return sanitize(html, optionsFor(list)).replace(/<(br|hr|img|col|wbr)\b([^<>]*?) \/>/g, '<$1$2>');
}
