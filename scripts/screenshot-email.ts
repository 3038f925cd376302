// `npm run screenshot:email`: renders a sample email with every block type and
// photographs it in headless Chromium at phone and desktop widths, into docs/.
// Needs Debian's chromium (apt-get install chromium), or CHROMIUM_PATH.
import { writeFile } from 'node:fs/promises';
import { chromium } from 'playwright-core';
import { normalizeBlocks } from '../src/domain/blocks.js';
import { renderEmail } from '../src/mail/render.js';

// Served by the page's request interception below: the machine has no internet.
const HERO_URL = 'https://images.example.com/hero.svg';
const HERO_SVG =
  '<svg xmlns="http://www.w3.org/2000/svg" width="600" height="200"><rect width="600" height="200" fill="#2563eb"/>' +
  '<text x="300" y="115" font-size="40" text-anchor="middle" fill="white" font-family="Arial">Stepwise</text></svg>';

const blocks = normalizeBlocks([
  { type: 'heading', text: 'Welcome aboard, {{subscriber.firstName|friend}}!', level: 1 },
  { type: 'text', text: 'Your <b>{{event.plan}}</b> trial is ready. Here is what to do in your first week.' },
  { type: 'image', src: HERO_URL, alt: 'Stepwise' },
  { type: 'list', items: ['Import your contacts', 'Create your first sequence', 'Invite your team'], ordered: true },
  { type: 'button', text: 'Open your dashboard', url: 'https://example.com/dashboard' },
  { type: 'divider' },
  { type: 'columns', columns: [
    [{ type: 'heading', text: 'Guides', level: 3 }, { type: 'text', text: 'Step-by-step help for every feature.', variant: 'muted' }],
    [{ type: 'heading', text: 'Support', level: 3 }, { type: 'text', text: 'Reply to this email, we read every message.', variant: 'muted' }],
  ] },
  { type: 'spacer', height: 16 },
  { type: 'text', text: 'Cheers, the Stepwise team', variant: 'small' },
]);

const email = await renderEmail({
  subject: 'Welcome aboard',
  previewText: 'Your trial is ready',
  blocks,
  context: { subscriber: { email: 'ada@example.com', firstName: 'Ada', lastName: null, attributes: {} }, event: { plan: 'Pro' }, discount: null },
  unsubscribeUrl: 'https://example.com/unsubscribe',
  transactional: false,
});

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-sync'],
});
try {
  for (const width of [375, 1024]) {
    const page = await browser.newPage({ viewport: { width, height: 800 } });
    await page.route(HERO_URL, (route) => route.fulfill({ contentType: 'image/svg+xml', body: HERO_SVG }));
    await page.setContent(email.html, { waitUntil: 'load' });
    const file = `docs/email-${width}.png`;
    await writeFile(file, await page.screenshot({ fullPage: true }));
    console.log(`wrote ${file}`);
    await page.close();
  }
} finally {
  await browser.close();
}
