import { describe, expect, it } from 'vitest';
import { createElement as h } from 'react';
import mjml2html from 'mjml';
import {
  Body,
  Button,
  Column,
  Container,
  Head,
  Heading,
  Hr,
  Html,
  Img,
  Link,
  Preview,
  Row,
  Section,
  Text,
} from '@react-email/components';
import { render } from '@react-email/render';
import { importHtml } from '../../src/domain/html-import.js';
import { MJML, NEWSLETTER } from '../fixtures/import-emails.js';
import { MAX_BLOCKS, normalizeBlocks, type Block } from '../../src/domain/blocks.js';

/** No script, no handler, no javascript: URL, no style attribute anywhere in the blocks. */
function expectClean(blocks: Block[]) {
  const json = JSON.stringify(blocks);
  expect(json).not.toMatch(/<script|<style|<iframe/i);
  expect(json).not.toMatch(/\son[a-z]+\s*=/i);
  expect(json).not.toMatch(/javascript:/i);
  expect(json).not.toMatch(/\sstyle\s*=/i);
}

const types = (blocks: Block[]) => blocks.map((b) => b.type);
const rawBlocks = (blocks: Block[]) => blocks.filter((b) => b.type === 'html').map((b) => (b as { html: string }).html);

describe('importHtml: plain HTML newsletter', () => {
  const blocks = importHtml(NEWSLETTER);

  it('converts the structure in document order with ids b1, b2, ...', () => {
    expect(types(blocks)).toEqual([
      'image',
      'heading',
      'text',
      'heading',
      'list',
      'heading',
      'list',
      'heading',
      'button',
      'divider',
      'html', // data table
      'html', // blockquote
      'text', // a form loses its tags (the sanitiser allows none), its text stays
      'button',
      'html', // image with a relative src
      'text',
    ]);
    expect(blocks.map((b) => b.id)).toEqual(blocks.map((_, i) => `b${i + 1}`));
  });

  it('keeps headings with their levels (h4-h6 become level 3)', () => {
    const headings = blocks.filter((b) => b.type === 'heading');
    expect(headings.map((b) => [b.text, b.level])).toEqual([
      ['Spring\u00a0news & offers', 1],
      ["What's new", 2],
      ['How to order', 3],
      ['Small print heading', 3],
    ]);
  });

  it('keeps inline formatting and safe links in paragraphs, and drops unsafe links', () => {
    expect(blocks[2]).toEqual({
      id: 'b3',
      type: 'text',
      variant: 'body',
      text:
        'Hi {{subscriber.firstName|there}}, our <b>spring sale</b> starts <i>today</i>.<br>Read the ' +
        '<a href="https://acme.example.com/blog">blog post</a> or this sneaky link, <u>underlined</u> and <em>emphasised</em>.',
    });
    expect(blocks.at(-1)).toMatchObject({ type: 'text', text: 'You are receiving this because you subscribed.', align: 'center' });
  });

  it('turns a linked image into an image block with src, alt, width and href', () => {
    expect(blocks[0]).toEqual({
      id: 'b1',
      type: 'image',
      src: 'https://cdn.acme.example.com/logo.png',
      alt: 'Acme logo',
      width: 160,
      href: 'https://acme.example.com',
    });
  });

  it('recognises bulletproof and class-styled buttons', () => {
    const buttons = blocks.filter((b) => b.type === 'button');
    expect(buttons).toEqual([
      {
        id: 'b9',
        type: 'button',
        text: 'Shop the sale',
        url: 'https://acme.example.com/sale?utm_source=email&utm_medium=newsletter',
        align: 'center',
      },
      { id: 'b14', type: 'button', text: 'Contact us', url: 'mailto:help@acme.example.com' },
    ]);
  });

  it('converts ul and ol into lists with their items', () => {
    const lists = blocks.filter((b) => b.type === 'list');
    expect(lists.map((l) => [l.ordered, l.items])).toEqual([
      [false, ['Free <strong>shipping</strong>', '30-day returns']],
      [true, ['Pick a product', 'Check out']],
    ]);
  });

  it('keeps a data table, a blockquote and an unusable image as raw html, sanitised; a form is not kept', () => {
    const [table, quote, image, ...rest] = rawBlocks(blocks);
    expect(rest).toEqual([]);
    expect(JSON.stringify(blocks)).not.toMatch(/<form|<input|<button/);
    expect(table).toMatch(/^<table border="1" cellpadding="4">/);
    expect(table).toContain('<th>Plan</th>');
    expect(table).toContain('<td>$12</td>');
    expect(quote).toBe('<blockquote>Best store ever! <a>more</a></blockquote>');
    expect(image).toBe('<img src="/relative/banner.png" alt="Relative banner">');
  });

  it('removes scripts, event handlers, style attributes and javascript: URLs everywhere', () => {
    expectClean(blocks);
    expect(JSON.stringify(blocks)).not.toContain('injected');
    expect(JSON.stringify(blocks)).not.toContain('spring sale inside'); // hidden preheader
  });

  it('gives blocks that pass normalizeBlocks unchanged, the same every time', () => {
    expect(normalizeBlocks(blocks)).toEqual(blocks);
    expect(importHtml(NEWSLETTER)).toEqual(blocks);
  });
});

describe('importHtml: React Email output', () => {
  const template = h(
    Html,
    { lang: 'en' },
    h(Head),
    h(Preview, null, 'Your order has shipped'),
    h(
      Body,
      { style: { backgroundColor: '#ffffff', fontFamily: 'Arial' } },
      h(
        Container,
        null,
        h(Img, { src: 'https://cdn.shop.example.com/logo.png', alt: 'Shop', width: 120, height: 40 }),
        h(Heading, { as: 'h1' }, 'Your order is on its way'),
        h(
          Text,
          null,
          'Hi {{subscriber.firstName|there}}, order ',
          h('strong', null, '#1042'),
          ' left our warehouse. Track it on ',
          h(Link, { href: 'https://shop.example.com/track/1042' }, 'our site'),
          '.',
        ),
        h(
          Section,
          { style: { textAlign: 'center' } },
          h(
            Button,
            { href: 'https://shop.example.com/orders/1042', style: { backgroundColor: '#111827', color: '#fff', padding: '12px 20px' } },
            'View order',
          ),
        ),
        h(Hr),
        h(Heading, { as: 'h4' }, 'In this parcel'),
        h('ul', null, h('li', null, 'Green tea'), h('li', null, 'Teapot')),
        h(
          Row,
          null,
          h(Column, null, h(Text, null, 'Need help? Reply to this email.')),
          h(Column, null, h(Link, { href: 'javascript:alert(1)' }, 'Unsubscribe')),
        ),
      ),
    ),
  );

  it('walks through the layout tables and converts the content', async () => {
    const html = await render(template);
    expect(html).toContain('role="presentation"'); // really React Email's table layout
    const blocks = importHtml(html);
    expect(blocks).toEqual([
      { id: 'b1', type: 'image', src: 'https://cdn.shop.example.com/logo.png', alt: 'Shop', width: 120 },
      { id: 'b2', type: 'heading', text: 'Your order is on its way', level: 1 },
      {
        id: 'b3',
        type: 'text',
        variant: 'body',
        text: 'Hi {{subscriber.firstName|there}}, order <strong>#1042</strong> left our warehouse. Track it on <a href="https://shop.example.com/track/1042">our site</a>.',
      },
      { id: 'b4', type: 'button', text: 'View order', url: 'https://shop.example.com/orders/1042', align: 'center' },
      { id: 'b5', type: 'divider' },
      { id: 'b6', type: 'heading', text: 'In this parcel', level: 3 },
      { id: 'b7', type: 'list', items: ['Green tea', 'Teapot'], ordered: false },
      { id: 'b8', type: 'text', variant: 'body', text: 'Need help? Reply to this email.' },
      { id: 'b9', type: 'text', variant: 'body', text: 'Unsubscribe' },
    ]);
    expectClean(blocks);
    expect(JSON.stringify(blocks)).not.toContain('Your order has shipped'); // the hidden preview
  });

  it('gives the same blocks for the pretty-printed output', async () => {
    const compact = importHtml(await render(template));
    expect(importHtml(await render(template, { pretty: true }))).toEqual(compact);
  });
});

describe('importHtml: compiled MJML', () => {

  it('converts mj-image, mj-text, mj-button, mj-divider and mj-spacer output into blocks', async () => {
    const { html, errors } = await mjml2html(MJML, { validationLevel: 'soft' });
    expect(errors).toEqual([]);
    expect(html).toContain('mj-column-per-100'); // really MJML's layout
    const blocks = importHtml(html);
    expect(blocks).toEqual([
      { id: 'b1', type: 'image', src: 'https://cdn.example.com/hero.png', alt: 'Spring collection', width: 300, href: 'https://example.com/spring' },
      { id: 'b2', type: 'heading', text: 'Welcome aboard', level: 1 },
      { id: 'b3', type: 'text', variant: 'body', text: 'Thanks for joining, <b>{{subscriber.firstName|friend}}</b>.' },
      { id: 'b4', type: 'text', variant: 'body', text: 'Here is <i>10% off</i>.' },
      { id: 'b5', type: 'text', variant: 'body', text: 'See you soon', align: 'center' },
      { id: 'b6', type: 'button', text: 'Shop now', url: 'https://example.com/shop?code={{discount.code}}', align: 'center' },
      { id: 'b7', type: 'divider' },
      { id: 'b8', type: 'spacer', height: 30 },
      { id: 'b9', type: 'list', items: ['Browse', 'Buy'], ordered: true },
      { id: 'b10', type: 'html', html: '<blockquote>Loved it</blockquote>' },
      { id: 'b11', type: 'text', variant: 'body', text: 'Click' },
    ]);
    expectClean(blocks);
    expect(JSON.stringify(blocks)).not.toContain('Hidden preheader');
    expect(normalizeBlocks(blocks)).toEqual(blocks);
  });
});

describe('importHtml: edge cases', () => {
  it('keeps a fragment without html/body', () => {
    expect(importHtml('<p>Just <em>one</em> line</p>')).toEqual([
      { id: 'b1', type: 'text', variant: 'body', text: 'Just <em>one</em> line' },
    ]);
  });

  it('keeps unknown elements as raw html, with their scripts and handlers removed (svg is not email HTML: dropped)', () => {
    const blocks = importHtml(
      '<p>Before</p><pre onclick="x()">code <script>evil()</script>here</pre>' +
        '<svg onload="x()"><a xlink:href="javascript:x()"><text>t</text></a></svg><p>After</p>',
    );
    expect(types(blocks)).toEqual(['text', 'html', 'text']);
    expect(rawBlocks(blocks)[0]).toBe('<pre>code here</pre>');
    expect(JSON.stringify(blocks)).not.toMatch(/onload|javascript|svg/);
    expectClean(blocks);
  });

  it('never drops text between blocks, and tags like span keep their text', () => {
    const blocks = importHtml('<div>Loose <span style="color:red">text</span><h2>Title</h2>tail <sup>1</sup></div>');
    expect(blocks.map((b) => ('text' in b ? b.text : b.type))).toEqual(['Loose text', 'Title', 'tail 1']);
  });

  it('gives one empty raw block for a document without content', () => {
    expect(importHtml('<html><head><title>x</title></head><body><script>x()</script> </body></html>')).toEqual([
      { id: 'b1', type: 'html', html: '' },
    ]);
  });

  it('caps the import at the block limit, merging the tail into one raw html block', () => {
    const paragraphs = Array.from({ length: 250 }, (_, i) => `<p>Paragraph ${i + 1}</p>`).join('\n');
    const blocks = importHtml(`<body>${paragraphs}</body>`);
    expect(blocks).toHaveLength(MAX_BLOCKS);
    expect(blocks[MAX_BLOCKS - 2]).toMatchObject({ id: 'b199', type: 'text', text: 'Paragraph 199' });
    const tail = blocks[MAX_BLOCKS - 1]!;
    expect(tail).toMatchObject({ id: 'b200', type: 'html' });
    const html = (tail as { html: string }).html;
    expect(html.startsWith('<p>Paragraph 200</p>')).toBe(true);
    expect(html.endsWith('<p>Paragraph 250</p>')).toBe(true);
    expect(normalizeBlocks(blocks)).toEqual(blocks);
  });

  it('falls back to raw html for values the block model rejects', () => {
    const long = 'x'.repeat(600);
    const blocks = importHtml(`<h1>${long}</h1><a href="/relative" class="button">Go</a><img src="cid:logo" alt="Logo">`);
    expect(blocks).toEqual([
      { id: 'b1', type: 'html', html: `<h1>${long}</h1>` },
      { id: 'b2', type: 'html', html: '<a href="/relative" class="button">Go</a>' },
      { id: 'b3', type: 'html', html: '<img src="cid:logo" alt="Logo">' },
    ]);
  });
});
