import { describe, expect, it } from 'vitest';
import { normalizeBlocks } from '../../src/domain/blocks.js';
import { EMAIL_HTML, INLINE_HTML, sanitizeHtml } from '../../src/domain/sanitize-html.js';

describe('sanitizeHtml', () => {
  it.each([
    ['script', '<p>a</p><script>alert(1)</script>', '<p>a</p>'],
    ['event handler', '<img src="https://x.example/a.png" onerror="alert(1)" alt="a">', '<img src="https://x.example/a.png" alt="a">'],
    ['javascript: URL', '<a href=" javascript:alert(1)">x</a>', '<a>x</a>'],
    ['entity-encoded javascript: URL', '<a href="jav&#x09;ascript&colon;alert(1)">x</a>', '<a>x</a>'],
    ['data: URL', '<a href="data:text/html,<script>alert(1)</script>">x</a><img src="data:image/svg+xml,<svg onload=alert(1)>">', '<a>x</a><img>'],
    ['iframe srcdoc', '<iframe srcdoc="<script>alert(1)</script>">fallback</iframe><p>b</p>', '<p>b</p>'],
    ['base', '<base href="https://evil.example/"><p>c</p>', '<p>c</p>'],
    ['meta refresh', '<meta http-equiv="refresh" content="0;url=https://evil.example/"><p>d</p>', '<p>d</p>'],
    ['style element', '<style>a{background:url(https://evil.example/)}</style><p>e</p>', '<p>e</p>'],
    ['form', '<form action="https://evil.example/"><input name="q"><button>Go</button></form>', 'Go'],
    ['unsafe inline CSS', '<p style="background:url(javascript:alert(1))">f</p><p style="color:red">g</p>', '<p>f</p><p style="color:red">g</p>'],
    ['svg', '<svg onload="alert(1)"><a xlink:href="javascript:alert(2)">t</a></svg><p>h</p>', '<p>h</p>'],
  ])('removes %s from email HTML', (_name, input, output) => {
    expect(sanitizeHtml(input, EMAIL_HTML)).toBe(output);
  });

  it('keeps email layout, links, images and merge tags (also in URLs, checked again once rendered)', () => {
    const html =
      '<table width="600" cellpadding="0" role="presentation"><tr><td align="center" bgcolor="#eee" style="padding:8px">' +
      '<a href="{{event.url}}" target="_blank">Hi {{subscriber.firstName|there}}</a><br><img src="https://cdn.example.com/a.png" alt="A" width="100">' +
      '<a href="mailto:help@example.com">help</a> <img src="cid:logo" alt="L"></td></tr></table>';
    expect(sanitizeHtml(html, EMAIL_HTML)).toBe(html);
  });

  it('limits inline HTML to b, strong, i, em, u, br and a[href]', () => {
    expect(sanitizeHtml('<p class="x">Hi <B>b</B> <span style="color:red">s</span><br/><a href="https://e.com" onclick="x()" style="c">l</a> 1 < 2 &amp; {{x|Tom & Jerry}}</p>', INLINE_HTML)).toBe(
      'Hi <b>b</b> s<br><a href="https://e.com">l</a> 1 &lt; 2 &amp; {{x|Tom &amp; Jerry}}',
    );
  });

  it('is idempotent, so content sanitised on input renders unchanged', () => {
    const once = sanitizeHtml('<div><p>A &amp; B <b>c</b><br><img src="https://x.example/i.png" alt="&quot;q&quot;"></p><script>x</script></div>', EMAIL_HTML);
    expect(sanitizeHtml(once, EMAIL_HTML)).toBe(once);
  });

  it('runs on every html block, text block and list item that normalizeBlocks validates', () => {
    const [html, text, list] = normalizeBlocks([
      { type: 'html', html: '<p onclick="x()">a</p><script>b</script>' },
      { type: 'text', text: 'Hi <script>b</script><a href="javascript:x()">c</a>' },
      { type: 'list', items: ['<img src=x onerror=alert(1)>item'] },
    ]);
    expect(html).toMatchObject({ html: '<p>a</p>' });
    expect(text).toMatchObject({ text: 'Hi <a>c</a>' });
    expect(list).toMatchObject({ items: ['item'] });
  });
});
