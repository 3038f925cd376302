// GraphiQL as a user meets it: opened in headless Chromium (Debian's `chromium`
// package, driven by playwright-core), it renders, runs a query with the
// prefilled development key and shows the result, and no request of the page
// (its code, styles, editor workers, icon, the query itself) leaves the machine.
import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createWorkspaceWithKey } from '../../src/auth/api-keys.js';
import { createLogger } from '../../src/logger.js';
import { buildApp } from '../../src/server/app.js';
import { useTestRuntime } from '../helpers/runtime.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const hasChromium = existsSync(CHROMIUM);
if (!hasChromium) {
  console.warn(`SKIPPED test/server/graphiql-browser.test.ts: no Chromium at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH)`);
}

const { prisma, runtime } = await useTestRuntime();
const { key, workspaceId } = await createWorkspaceWithKey(prisma, 'Browser');
await prisma.list.create({ data: { workspaceId, name: 'Seen in the browser' } });
const app = buildApp({ runtime, logger: createLogger('silent'), graphiqlApiKey: key, settings: { GRAPHIQL: true, RATE_LIMIT_PER_MINUTE: 0 } });
let base: string;
let browser: Browser | undefined;
beforeAll(async () => {
  base = `http://127.0.0.1:${await app.start(0, '127.0.0.1')}`;
});
afterAll(async () => {
  await browser?.close();
  await app.stop();
});

const isLocal = (address: string) => {
  if (address.startsWith('data:') || address.startsWith('blob:') || address === 'about:blank') return true;
  const { hostname } = new URL(address);
  return hostname === '127.0.0.1' || hostname === 'localhost' || hostname === '[::1]';
};

it.skipIf(!hasChromium)('renders GraphiQL, runs a query with the prefilled key and shows its result; every request stays on this machine', { timeout: 120_000 }, async () => {
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
  const context = await browser.newContext();
  const requests: string[] = [];
  const refused: string[] = [];
  // Every request of every page and worker passes here: recorded, and refused unless local.
  await context.route('**/*', (route) => {
    const address = route.request().url();
    requests.push(address);
    if (isLocal(address)) return route.continue();
    refused.push(address);
    return route.abort();
  });
  context.on('request', (request) => requests.push(request.url()));
  const page = await context.newPage();
  page.on('websocket', (socket) => requests.push(socket.url()));
  const errors: string[] = [];
  page.on('pageerror', (error) => errors.push(String(error)));

  const query = '{ lists { name } }';
  await page.goto(`${base}/graphql?query=${encodeURIComponent(query)}`, { waitUntil: 'load' });
  await page.locator('.graphiql-execute-button').first().click({ timeout: 60_000 });
  // The result pane is an editor that draws spaces as no-break spaces.
  const shownResult = async () => (await page.locator('.graphiql-response').innerText()).replace(/\u00a0/g, ' ');
  await expect.poll(shownResult, { timeout: 60_000 }).toContain('"name": "Seen in the browser"');
  const shown = await shownResult();
  expect(shown).toContain('"lists"');
  expect(shown).not.toContain('UNAUTHENTICATED');

  expect(requests.some((r) => r.startsWith(`${base}/graphql`))).toBe(true);
  expect(refused).toEqual([]);
  expect(requests.filter((r) => !isLocal(r))).toEqual([]);
  expect(errors).toEqual([]);
});
