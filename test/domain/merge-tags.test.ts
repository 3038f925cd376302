import { describe, expect, it } from 'vitest';
import { hasMergeTags, listMergeTags, mergeTagValue, renderHtml, renderText, stripMergeTags, tokenizeMergeTags, type MergeTag, type MergeTagContext } from '../../src/domain/merge-tags.js';

const ctx: MergeTagContext = {
  subscriber: {
    email: 'ada@example.com',
    firstName: 'Ada',
    lastName: null,
    attributes: { plan: { tier: 'pro', seats: 5 }, vip: true, nickname: '', bio: '<b>hi</b> & "you"', tags: ['a', 'b'] },
  },
  event: { order: { id: 'o_1', total: 42.5, items: [{ name: 'Tea' }] } },
  discount: {
    code: 'SAVE10',
    percentOff: 10,
    amountOff: null,
    currency: null,
    expiresAt: new Date('2030-01-02T03:04:05.000Z'),
  },
};

describe('renderText', () => {
  it('substitutes known paths with tolerant whitespace', () => {
    expect(renderText('Hi {{subscriber.firstName}} ({{ subscriber.email }})', ctx)).toBe('Hi Ada (ada@example.com)');
    expect(renderText('{{  subscriber.attributes.plan.tier  }}', ctx)).toBe('pro');
    expect(renderText('Order {{event.order.id}}: {{event.order.items.0.name}}', ctx)).toBe('Order o_1: Tea');
    expect(renderText('Use {{discount.code}}', ctx)).toBe('Use SAVE10');
  });

  it('stringifies non-string values', () => {
    expect(renderText('{{subscriber.attributes.plan.seats}}', ctx)).toBe('5');
    expect(renderText('{{event.order.total}}', ctx)).toBe('42.5');
    expect(renderText('{{subscriber.attributes.vip}}', ctx)).toBe('true');
    expect(renderText('{{discount.percentOff}}%', ctx)).toBe('10%');
    expect(renderText('{{discount.expiresAt}}', ctx)).toBe('2030-01-02T03:04:05.000Z');
    expect(renderText('{{subscriber.attributes.plan}}', ctx)).toBe('{"tier":"pro","seats":5}');
    expect(renderText('{{subscriber.attributes.tags}}', ctx)).toBe('["a","b"]');
  });

  it('uses the fallback for missing, null or empty values', () => {
    expect(renderText('Hi {{subscriber.lastName|friend}}', ctx)).toBe('Hi friend');
    expect(renderText('Hi {{ subscriber.attributes.nickname | there pal }}!', ctx)).toBe('Hi there pal!');
    expect(renderText('{{subscriber.attributes.missing.deep|n/a}}', ctx)).toBe('n/a');
    expect(renderText('{{discount.amountOff|0}}', ctx)).toBe('0');
  });

  it('renders empty string (never braces) without a fallback', () => {
    expect(renderText('Hi {{subscriber.lastName}}.', ctx)).toBe('Hi .');
    expect(renderText('[{{ }}]', ctx)).toBe('[]');
    expect(renderText('[{{|x}}]', ctx)).toBe('[x]');
  });

  it('treats unknown roots as missing', () => {
    expect(renderText('{{foo}}|{{foo.bar|fb}}', ctx)).toBe('|fb');
    expect(renderText('{{constructor}}{{toString|x}}', ctx)).toBe('x');
  });

  it('handles null event and discount', () => {
    const bare: MergeTagContext = { ...ctx, event: null, discount: null };
    expect(renderText('{{event.order.id|none}} {{discount.code|NOCODE}}', bare)).toBe('none NOCODE');
  });

  it('keeps the fallback verbatim after the first bar', () => {
    expect(renderText('{{subscriber.lastName|a|b}}', ctx)).toBe('a|b');
  });

  it('leaves text without complete tags alone', () => {
    expect(renderText('plain {text} {{unclosed', ctx)).toBe('plain {text} {{unclosed');
  });
});

describe('renderHtml', () => {
  it('escapes values', () => {
    expect(renderHtml('<p>{{subscriber.attributes.bio}}</p>', ctx)).toBe(
      '<p>&lt;b&gt;hi&lt;/b&gt; &amp; &quot;you&quot;</p>',
    );
  });

  it('escapes fallbacks and JSON', () => {
    expect(renderHtml("{{subscriber.lastName|<script>'x'</script>}}", ctx)).toBe(
      '&lt;script&gt;&#39;x&#39;&lt;/script&gt;',
    );
    expect(renderHtml('{{subscriber.attributes.tags}}', ctx)).toBe('[&quot;a&quot;,&quot;b&quot;]');
  });

  it('does not escape the template itself', () => {
    expect(renderHtml('<a href="x">{{subscriber.firstName}}</a>', ctx)).toBe('<a href="x">Ada</a>');
  });
});

describe('listMergeTags', () => {
  it('lists distinct paths in order without fallbacks', () => {
    const template = '{{ subscriber.firstName | there }} {{discount.code}} {{subscriber.firstName}} {{foo}}';
    expect(listMergeTags(template)).toEqual(['subscriber.firstName', 'discount.code', 'foo']);
  });

  it('returns nothing for templates without tags', () => {
    expect(listMergeTags('Hello { world }')).toEqual([]);
  });
});

describe('tokenizeMergeTags', () => {
  it('splits a template into literal text and tags, in order', () => {
    expect(tokenizeMergeTags('Hi {{ subscriber.firstName | there }}, {{event.x}}!')).toEqual([
      'Hi ',
      { path: 'subscriber.firstName', fallback: 'there' },
      ', ',
      { path: 'event.x', fallback: '' },
      '!',
    ]);
    expect(tokenizeMergeTags('no tags {{ nor } this')).toEqual(['no tags {{ nor } this']);
    expect(tokenizeMergeTags('')).toEqual([]);
  });

  it('gives each tag its value or fallback, unescaped', () => {
    const [, tag] = tokenizeMergeTags('x {{subscriber.attributes.bio|none}}');
    expect(mergeTagValue(tag as MergeTag, ctx)).toBe('<b>hi</b> & "you"');
    expect(mergeTagValue({ path: 'subscriber.lastName', fallback: 'a & b' }, ctx)).toBe('a & b');
    expect(hasMergeTags('{{a}}')).toBe(true);
    expect(hasMergeTags('{{a')).toBe(false);
    expect(stripMergeTags('https://x/{{event.id}}?a={{b}}')).toBe('https://x/?a=');
  });
});
