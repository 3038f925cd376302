import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  blockSchema,
  blocksSchema,
  DEFAULT_FOOTER_TEXT,
  normalizeBlocks,
  type Block,
  type BlockInput,
} from '../../src/domain/blocks.js';

/** The issues `normalizeBlocks` throws for `input`, as [path, message] pairs. */
function issuesOf(input: unknown): { path: PropertyKey[]; message: string }[] {
  try {
    normalizeBlocks(input);
  } catch (error) {
    expect(error).toBeInstanceOf(z.ZodError);
    return (error as z.ZodError).issues.map((i) => ({ path: i.path, message: i.message }));
  }
  throw new Error('expected normalizeBlocks to throw');
}

const allTypes: BlockInput[] = [
  { type: 'heading', text: 'Welcome' },
  { type: 'text', text: 'Hello <b>there</b>' },
  { type: 'button', text: 'Go', url: 'https://example.com' },
  { type: 'image', src: 'https://cdn.example.com/a.png' },
  { type: 'list', items: ['a', 'b'] },
  { type: 'divider' },
  { type: 'spacer' },
  { type: 'columns', columns: [[{ type: 'text', text: 'L' }], [{ type: 'text', text: 'R' }]] },
  { type: 'footer' },
  { type: 'html', html: '<table></table>' },
];

describe('normalizeBlocks', () => {
  it('accepts every block type and fills defaults', () => {
    const blocks = normalizeBlocks(allTypes);
    expect(blocks).toEqual<Block[]>([
      { id: 'b1', type: 'heading', text: 'Welcome', level: 1 },
      { id: 'b2', type: 'text', text: 'Hello <b>there</b>', variant: 'body' },
      { id: 'b3', type: 'button', text: 'Go', url: 'https://example.com' },
      { id: 'b4', type: 'image', src: 'https://cdn.example.com/a.png', alt: '' },
      { id: 'b5', type: 'list', items: ['a', 'b'], ordered: false },
      { id: 'b6', type: 'divider' },
      { id: 'b7', type: 'spacer', height: 24 },
      {
        id: 'b8',
        type: 'columns',
        columns: [[{ id: 'b9', type: 'text', text: 'L', variant: 'body' }], [{ id: 'b10', type: 'text', text: 'R', variant: 'body' }]],
      },
      { id: 'b11', type: 'footer', text: DEFAULT_FOOTER_TEXT },
      { id: 'b12', type: 'html', html: '<table></table>' },
    ]);
  });

  it('keeps given ids and fills the rest in document order, skipping used ids', () => {
    const blocks = normalizeBlocks([
      { type: 'divider' },
      { id: 'b1', type: 'spacer', height: 8 },
      { type: 'columns', columns: [[{ type: 'divider' }], [{ id: 'b3', type: 'divider' }]] },
      { type: 'divider' },
    ]);
    expect(blocks.map((b) => b.id)).toEqual(['b2', 'b1', 'b4', 'b6']);
    const columns = blocks[2];
    expect(columns?.type === 'columns' && columns.columns.map((c) => c.map((b) => b.id))).toEqual([['b5'], ['b3']]);
  });

  it('is deterministic and idempotent', () => {
    const once = normalizeBlocks(allTypes);
    expect(normalizeBlocks(allTypes)).toEqual(once);
    expect(normalizeBlocks(once)).toEqual(once);
  });

  it('keeps explicit options', () => {
    const [heading, text, image, list, button] = normalizeBlocks([
      { type: 'heading', text: 'H', level: 3 },
      { type: 'text', text: 'T', variant: 'small', align: 'center' },
      { type: 'image', src: '{{event.imageUrl}}', alt: 'Alt', width: 300, href: 'mailto:a@example.com' },
      { type: 'list', items: ['x'], ordered: true },
      { type: 'button', text: 'Open', url: 'https://example.com/o/{{event.id}}', align: 'right' },
    ]);
    expect(heading).toMatchObject({ level: 3 });
    expect(text).toMatchObject({ variant: 'small', align: 'center' });
    expect(image).toMatchObject({ width: 300, href: 'mailto:a@example.com', alt: 'Alt' });
    expect(list).toMatchObject({ ordered: true });
    expect(button).toMatchObject({ align: 'right', url: 'https://example.com/o/{{event.id}}' });
  });

  it('rejects a bad URL with the path to the field', () => {
    const issues = issuesOf([
      { type: 'heading', text: 'Hi' },
      { type: 'text', text: 'Body' },
      { type: 'button', text: 'Go', url: 'javascript:alert(1)' },
    ]);
    expect(issues).toEqual([{ path: [2, 'url'], message: expect.stringContaining('http(s) or mailto') }]);
  });

  it.each([
    ['https://example.com/a?b=c', true],
    ['http://example.com', true],
    ['mailto:help@example.com', true],
    ['{{event.url}}', true],
    ['{{event.url}}?utm={{ subscriber.email }}', true],
    ['https://example.com/{{ event.path | home }}', true],
    ['  https://example.com  ', true],
    ['ftp://example.com', false],
    ['example.com', false],
    ['https://exa mple.com', false],
    ['https://', false],
    ['', false],
  ])('button url %j valid: %s', (url, ok) => {
    expect(blockSchema.safeParse({ type: 'button', text: 'Go', url }).success).toBe(ok);
  });

  it('only allows http(s) or merge tags for image src', () => {
    expect(blockSchema.safeParse({ type: 'image', src: 'mailto:a@b.c' }).success).toBe(false);
    expect(blockSchema.safeParse({ type: 'image', src: 'data:image/png;base64,AAAA' }).success).toBe(false);
    expect(blockSchema.safeParse({ type: 'image', src: '{{event.img}}' }).success).toBe(true);
  });

  it('rejects unknown keys (strict objects)', () => {
    expect(issuesOf([{ type: 'divider', color: 'red' }])).toEqual([
      { path: [0], message: expect.stringContaining('"color"') },
    ]);
  });

  it('rejects an unknown type at the type path', () => {
    expect(issuesOf([{ type: 'video', src: 'x' }])[0]?.path).toEqual([0, 'type']);
    expect(issuesOf([{ text: 'no type' }])[0]?.path).toEqual([0, 'type']);
  });

  it('enforces numeric ranges', () => {
    expect(issuesOf([{ type: 'spacer', height: 2 }])[0]?.path).toEqual([0, 'height']);
    expect(issuesOf([{ type: 'spacer', height: 10.5 }])[0]?.path).toEqual([0, 'height']);
    expect(issuesOf([{ type: 'image', src: 'https://x.io/a.png', width: 601 }])[0]?.path).toEqual([0, 'width']);
    expect(issuesOf([{ type: 'heading', text: 'H', level: 4 }])[0]?.path).toEqual([0, 'level']);
  });

  it('rejects blank text and empty lists', () => {
    expect(issuesOf([{ type: 'text', text: '   ' }])[0]?.path).toEqual([0, 'text']);
    expect(issuesOf([{ type: 'list', items: [] }])[0]?.path).toEqual([0, 'items']);
    expect(issuesOf([{ type: 'list', items: ['a', ''] }])[0]?.path).toEqual([0, 'items', 1]);
  });

  it('limits columns to 2..3 and forbids nesting columns', () => {
    expect(issuesOf([{ type: 'columns', columns: [[]] }])[0]?.path).toEqual([0, 'columns']);
    expect(issuesOf([{ type: 'columns', columns: [[], [], [], []] }])[0]?.path).toEqual([0, 'columns']);
    const nested = issuesOf([{ type: 'columns', columns: [[{ type: 'columns', columns: [[], []] }], []] }]);
    expect(nested[0]?.path).toEqual([0, 'columns', 0, 0, 'type']);
    const badChild = issuesOf([{ type: 'columns', columns: [[], [{ type: 'button', text: 'x', url: 'nope' }]] }]);
    expect(badChild[0]?.path).toEqual([0, 'columns', 1, 0, 'url']);
  });

  it('needs 1..200 blocks', () => {
    expect(issuesOf([])[0]?.message).toMatch(/at least one block/);
    expect(blocksSchema.safeParse(Array.from({ length: 200 }, () => ({ type: 'divider' }))).success).toBe(true);
    expect(issuesOf(Array.from({ length: 201 }, () => ({ type: 'divider' })))[0]?.message).toMatch(/at most 200/);
    expect(issuesOf({ type: 'divider' })[0]?.path).toEqual([]);
    expect(issuesOf(null)[0]?.path).toEqual([]);
  });

  it('rejects duplicate and malformed ids', () => {
    expect(
      issuesOf([
        { id: 'a', type: 'divider' },
        { type: 'columns', columns: [[{ id: 'a', type: 'divider' }], []] },
      ]),
    ).toEqual([{ path: [1, 'columns', 0, 0, 'id'], message: 'duplicate block id "a"' }]);
    expect(issuesOf([{ id: 'has space', type: 'divider' }])[0]?.path).toEqual([0, 'id']);
  });
});
