import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { normalizeBlocks } from '../../src/domain/blocks.js';

function issuesOf(input: unknown) {
  try {
    normalizeBlocks(input);
  } catch (error) {
    expect(error).toBeInstanceOf(z.ZodError);
    return (error as z.ZodError).issues.map((i) => ({ path: i.path, message: i.message }));
  }
  throw new Error('expected normalizeBlocks to throw');
}

describe("Sequenzy's block spelling", () => {
  it('maps their documented example onto our blocks', () => {
    expect(
      normalizeBlocks([
        { id: 'heading-1', type: 'heading', content: 'Welcome!', level: 1 },
        { id: 'text-1', type: 'text', content: '<p>Thanks for <b>joining</b>.</p><p>See you.</p>', variant: 'paragraph' },
        { id: 'raw', type: 'text', variant: 'html', content: '<h1>Hello</h1>' },
        { type: 'button', content: 'Shop', href: 'https://shop.example.com' },
        { type: 'image', url: 'https://cdn.example.com/a.png', alt: 'A' },
        { type: 'text', content: 'Small print', variant: 'caption' },
        { type: 'divider' },
        { id: 'q', type: 'quote', content: '<p>Best purchase this year.</p>' },
      ]),
    ).toEqual([
      { id: 'heading-1', type: 'heading', text: 'Welcome!', level: 1 },
      { id: 'text-1', type: 'text', text: 'Thanks for <b>joining</b>.<br><br>See you.', variant: 'body' },
      { id: 'raw', type: 'html', html: '<h1>Hello</h1>' },
      { id: 'b1', type: 'button', text: 'Shop', url: 'https://shop.example.com' },
      { id: 'b2', type: 'image', src: 'https://cdn.example.com/a.png', alt: 'A' },
      { id: 'b3', type: 'text', text: 'Small print', variant: 'small' },
      { id: 'b4', type: 'divider' },
      { id: 'q', type: 'html', html: '<blockquote>Best purchase this year.</blockquote>' },
    ]);
  });

  it('maps blocks inside columns too, and the result is a fixed point', () => {
    const once = normalizeBlocks([{ type: 'columns', columns: [[{ type: 'text', content: 'L' }], [{ type: 'heading', content: 'R' }]] }]);
    expect(once[0]).toMatchObject({ columns: [[{ type: 'text', text: 'L', variant: 'body' }], [{ type: 'heading', text: 'R' }]] });
    expect(normalizeBlocks(once)).toEqual(once);
  });

  it('refuses both spellings at once, conditions, and unknown keys, with paths', () => {
    expect(issuesOf([{ type: 'text', text: 'a', content: 'b' }])).toEqual([{ path: [0, 'content'], message: 'Give either text or content, not both' }]);
    expect(issuesOf([{ type: 'divider' }, { type: 'text', content: 'a', condition: { variable: 'plan' } }])).toEqual([
      { path: [1, 'condition'], message: 'Conditional blocks are not supported; send one email per audience instead' },
    ]);
    expect(issuesOf([{ type: 'heading', content: 'a', color: 'red' }])[0]!.message).toMatch(/color/);
    expect(issuesOf([{ type: 'text', content: 'a', variant: 'shout' }])[0]!.path).toEqual([0, 'variant']);
  });
});
