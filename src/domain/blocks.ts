/**
 * The email block model.
 *
 * An EMAIL step's content is an ordered array of blocks (1 to 200). Each block is a
 * JSON object with a `type` and the fields of that type; unknown keys are rejected.
 * Every block has an `id` (letters, digits, `_`, `-`; at most 64 characters), unique
 * within the email, including blocks nested in `columns`. The id may be left out
 * on input: missing ids are filled in document order as `b1`, `b2`, ..., skipping
 * ids already used.
 *
 * | type      | fields |
 * | --------- | ------ |
 * | `heading` | `text` (plain text), `level`: 1, 2 or 3 (default 1) |
 * | `text`    | `text` (inline HTML: `<b> <i> <u> <strong> <em> <br> <a href>`), `variant`: `body` (default), `muted` or `small`, `align?`: `left`, `center` or `right` |
 * | `button`  | `text` (plain text), `url`, `align?` |
 * | `image`   | `src`, `alt` (default `""`), `width?`: pixels 1..600, `href?` |
 * | `list`    | `items`: 1..100 strings (inline HTML, as in `text`), `ordered` (default `false`) |
 * | `divider` | no fields |
 * | `spacer`  | `height`: pixels 4..200 (default 24) |
 * | `columns` | `columns`: 2 or 3 columns, each an array of blocks of any type except `columns` |
 * | `footer`  | `text` (plain text, default "You are receiving this because you subscribed."); renders the unsubscribe link |
 * | `html`    | `html`: raw HTML (e.g. kept from an import that has no block equivalent), sanitised to email HTML |
 *
 * Blocks in Sequenzy's spelling (`content` for `text`, `variant: "paragraph"`, ...)
 * are accepted too and stored in this form (src/domain/foreign-blocks.ts).
 *
 * URLs (`button.url`, `image.href`) are `http(s)://` or `mailto:` links, or start with a
 * merge tag such as `{{event.url}}`; `image.src` is an `http(s)://` URL or starts with a
 * merge tag. URLs may not contain spaces outside merge tags. After merge tags are
 * rendered, a link that is not http(s)/mailto becomes `#`.
 *
 * Merge tags (`{{subscriber.firstName|there}}`) may appear in every text, URL and
 * `html` field. Values are HTML-escaped, so subscriber data can never inject markup.
 * Inline and raw HTML is sanitised on input by one allow-list sanitiser
 * (src/domain/sanitize-html.ts): scripts, event handlers, embedded documents and
 * non-http(s)/mailto URLs never get stored.
 * Emails of non-transactional sequences always end with an unsubscribe link: when the
 * blocks have no `footer`, a default one is appended at render time.
 *
 * Example:
 *
 * ```json
 * [
 *   { "type": "heading", "text": "Welcome, {{subscriber.firstName|friend}}!" },
 *   { "type": "text", "text": "Thanks for joining. Here is <b>10% off</b> your first order." },
 *   { "type": "button", "text": "Shop now", "url": "https://shop.example.com/?code={{discount.code}}", "align": "center" },
 *   { "type": "image", "src": "https://cdn.example.com/hero.png", "alt": "Our spring collection", "width": 600 },
 *   { "type": "list", "items": ["Free shipping", "30-day returns"], "ordered": false },
 *   { "type": "divider" },
 *   { "type": "spacer", "height": 16 },
 *   {
 *     "type": "columns",
 *     "columns": [
 *       [{ "type": "image", "src": "https://cdn.example.com/a.png", "alt": "Tea" }, { "type": "text", "text": "Green tea" }],
 *       [{ "type": "image", "src": "https://cdn.example.com/b.png", "alt": "Coffee" }, { "type": "text", "text": "Dark roast" }]
 *     ]
 *   },
 *   { "type": "html", "html": "<table><tr><td>Imported content</td></tr></table>" },
 *   { "id": "legal", "type": "footer", "text": "You signed up at example.com." }
 * ]
 * ```
 */
import { z } from 'zod';
import { fromForeignBlocks } from './foreign-blocks.js';
import { stripMergeTags } from './merge-tags.js';
import { EMAIL_HTML, INLINE_HTML, sanitizeHtml } from './sanitize-html.js';

export const MAX_BLOCKS = 200;
export const DEFAULT_FOOTER_TEXT = 'You are receiving this because you subscribed.';

const blockId = z
  .string()
  .min(1, { message: 'must not be empty' })
  .max(64)
  .regex(/^[A-Za-z0-9_-]+$/, { message: 'may only contain letters, digits, _ and -' });

const nonBlank = (max: number) =>
  z
    .string()
    .max(max)
    .refine((s) => s.trim() !== '', { message: 'must not be blank' });

/** Inline HTML, sanitised on the way in (src/domain/sanitize-html.ts). */
const inlineHtml = (max: number) => nonBlank(max).transform((s) => sanitizeHtml(s, INLINE_HTML));

/** A URL template: `schemes` prefix or a leading merge tag, no whitespace outside tags. */
function urlTemplate(schemes: RegExp, description: string) {
  return z
    .string()
    .trim()
    .min(1, { message: 'must not be empty' })
    .max(2048)
    .refine((s) => s.startsWith('{{') || schemes.test(s), { message: `must be ${description} or start with a merge tag` })
    .refine((s) => !/\s/.test(stripMergeTags(s)), { message: 'must not contain spaces' });
}

const linkUrl = urlTemplate(/^(?:https?:\/\/[^/\s]|mailto:\S)/i, 'an http(s) or mailto URL');
const imageUrl = urlTemplate(/^https?:\/\/[^/\s]/i, 'an http(s) URL');
const align = z.enum(['left', 'center', 'right']);

const headingBlock = z.strictObject({
  id: blockId.optional(),
  type: z.literal('heading'),
  text: nonBlank(500),
  level: z.union([z.literal(1), z.literal(2), z.literal(3)]).default(1),
});

const textBlock = z.strictObject({
  id: blockId.optional(),
  type: z.literal('text'),
  text: inlineHtml(20_000),
  variant: z.enum(['body', 'muted', 'small']).default('body'),
  align: align.optional(),
});

const buttonBlock = z.strictObject({
  id: blockId.optional(),
  type: z.literal('button'),
  text: nonBlank(200),
  url: linkUrl,
  align: align.optional(),
});

const imageBlock = z.strictObject({
  id: blockId.optional(),
  type: z.literal('image'),
  src: imageUrl,
  alt: z.string().max(500).default(''),
  width: z.int().min(1).max(600).optional(),
  href: linkUrl.optional(),
});

const listBlock = z.strictObject({
  id: blockId.optional(),
  type: z.literal('list'),
  items: z.array(inlineHtml(2_000)).min(1).max(100),
  ordered: z.boolean().default(false),
});

const dividerBlock = z.strictObject({
  id: blockId.optional(),
  type: z.literal('divider'),
});

const spacerBlock = z.strictObject({
  id: blockId.optional(),
  type: z.literal('spacer'),
  height: z.int().min(4).max(200).default(24),
});

const footerBlock = z.strictObject({
  id: blockId.optional(),
  type: z.literal('footer'),
  text: z.string().max(2_000).default(DEFAULT_FOOTER_TEXT),
});

const htmlBlock = z.strictObject({
  id: blockId.optional(),
  type: z.literal('html'),
  html: z
    .string()
    .max(1_000_000)
    .transform((s) => sanitizeHtml(s, EMAIL_HTML)),
});

const leafBlocks = [headingBlock, textBlock, buttonBlock, imageBlock, listBlock, dividerBlock, spacerBlock, footerBlock, htmlBlock] as const;

/** Any block that may sit inside a column (every type except `columns`). */
export const columnBlockSchema = z.discriminatedUnion('type', [...leafBlocks]);

const columnsBlock = z.strictObject({
  id: blockId.optional(),
  type: z.literal('columns'),
  columns: z.array(z.array(columnBlockSchema).max(50)).min(2).max(3),
});

export const blockSchema = z.discriminatedUnion('type', [...leafBlocks, columnsBlock]);

type Path = (string | number)[];

/** Every block with its path, in document order (a columns block before its children). */
function walk<T extends { type: string }>(blocks: readonly T[], visit: (block: T, path: Path) => void): void {
  blocks.forEach((block, i) => {
    visit(block, [i]);
    if (block.type === 'columns') {
      const columns = (block as unknown as { columns: T[][] }).columns;
      columns.forEach((column, c) =>
        column.forEach((child, j) => visit(child, [i, 'columns', c, j])),
      );
    }
  });
}

export const blocksSchema = z
  .array(blockSchema)
  .min(1, { message: 'an email needs at least one block' })
  .max(MAX_BLOCKS, { message: `an email has at most ${MAX_BLOCKS} blocks` })
  .superRefine((blocks, ctx) => {
    const seen = new Set<string>();
    walk(blocks as { type: string; id?: string }[], (block, path) => {
      if (block.id === undefined) return;
      if (seen.has(block.id)) {
        ctx.addIssue({ code: 'custom', path: [...path, 'id'], message: `duplicate block id "${block.id}"` });
      }
      seen.add(block.id);
    });
  });

/** What an author may send: ids and defaulted fields optional. */
export type BlockInput = z.input<typeof blockSchema>;

type WithId<T> = T extends unknown ? Omit<T, 'id'> & { id: string } : never;

/** A block that may sit inside a column. */
export type ColumnBlock = WithId<z.output<typeof columnBlockSchema>>;
export type ColumnsBlock = { id: string; type: 'columns'; columns: ColumnBlock[][] };
/** A validated block with its id and defaults filled in. */
export type Block = ColumnBlock | ColumnsBlock;
export type BlockType = Block['type'];
export type BlockOf<T extends BlockType> = Extract<Block, { type: T }>;

/**
 * Validates `input` as a block list and fills missing ids (`b1`, `b2`, ... in
 * document order, skipping ids already used). Throws the ZodError on bad input;
 * its issue paths point into the array, e.g. `[2, 'url']`.
 */
export function normalizeBlocks(input: unknown): Block[] {
  // Sequenzy's spelling (`content`, `variant: "paragraph"`, ...) is accepted and stored as ours.
  const parsed = blocksSchema.parse(fromForeignBlocks(input));
  const used = new Set<string>();
  walk(parsed as { type: string; id?: string }[], (block) => {
    if (block.id !== undefined) used.add(block.id);
  });
  let next = 1;
  const freshId = (): string => {
    while (used.has(`b${next}`)) next++;
    const id = `b${next}`;
    used.add(id);
    return id;
  };
  const withId = <T extends { id?: string }>(block: T): Omit<T, 'id'> & { id: string } => {
    const { id, ...rest } = block;
    return { id: id ?? freshId(), ...rest };
  };
  return parsed.map((block): Block => {
    if (block.type !== 'columns') return withId(block) as Block;
    const { columns, ...top } = withId(block);
    return { ...top, columns: columns.map((column) => column.map((child) => withId(child) as ColumnBlock)) };
  });
}
