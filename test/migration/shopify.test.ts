// Shopify discounts: connectShopify, case-insensitive provider names, the enable
// guard, and CREATE_DISCOUNT steps with provider SHOPIFY through the official
// Admin API client against a local Shopify-speaking server on 127.0.0.1.
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { secretBox } from '../../src/integrations/secret-box.js';
import { useTestEngine } from '../helpers/engine.js';
import { startShopifyServer } from '../helpers/shopify-server.js';
import { engineApi, settle, type Workspace } from '../engine/support.js';

const SECRET = 'stepwise-test-secret-0123456789';
const TOKEN = 'shpat_0123456789abcdef0123456789abcdef';
const SHOP = 'stepwise-test.myshopify.com';

const t = await useTestEngine();
const shopify = await startShopifyServer({ accessToken: TOKEN });
// Provider secrets are sealed with the box configured for Stripe (one box for every provider).
const withSecret = () => t.runtime.integrations.configure({ stripe: { secret: SECRET, host: '127.0.0.1', port: 9, protocol: 'http' } });
t.runtime.integrations.configure({ shopify: { apiUrl: shopify.url, apiVersion: '2026-10' } });
withSecret();
beforeEach(() => withSecret());
afterAll(async () => {
  t.runtime.integrations.configure({ stripe: { host: 'api.stripe.com', port: 443, protocol: 'https' } });
  t.runtime.integrations.configure({ shopify: { apiVersion: '2026-10' } });
  await shopify.close();
});

const ERRORS = 'errors { field message code }';
const CONNECT = `mutation($shop: String!, $token: String!) { connectShopify(shopDomain: $shop, accessToken: $token) { connected ${ERRORS} } }`;
const CREATE = `mutation($input: CreateSequenceInput!) { createSequence(input: $input) { sequence { id status steps { discount { provider } } } ${ERRORS} } }`;
const ENABLE = `mutation($id: ID!) { enableSequence(id: $id) { sequence { id status } ${ERRORS} } }`;

function shopifySequence(discount: Record<string, unknown>) {
  return {
    name: `Shopify offer ${Math.random().toString(36).slice(2, 8)}`,
    trigger: 'MANUAL',
    steps: [
      { type: 'CREATE_DISCOUNT', discount: { provider: 'shopify', ...discount } },
      { subject: 'Your code', blocks: [{ type: 'text', text: 'Use {{discount.code}} at checkout.' }] },
    ],
  };
}

async function connectedWorkspace(): Promise<Workspace> {
  const ws = await t.workspace();
  expect((await ws.gql(CONNECT, { shop: SHOP, token: TOKEN })).data.connectShopify).toEqual({ connected: true, errors: [] });
  return ws;
}

const ops = (from: number) => shopify.requests.slice(from).map((r) => r.operation);

describe('connectShopify', () => {
  it('refuses a bad domain or token with field errors, never echoing the token, and stores nothing', async () => {
    const ws = await t.workspace();
    const bad = (await ws.gql(CONNECT, { shop: 'shop.example.com', token: 'shpat_short' })).data.connectShopify;
    expect(bad.connected).toBe(false);
    expect(bad.errors.map((e: any) => [e.field, e.code])).toEqual([
      [['shopDomain'], 'VALIDATION'],
      [['accessToken'], 'VALIDATION'],
    ]);
    expect(JSON.stringify(bad)).not.toContain('shpat_short');
    const row = await t.prisma.workspace.findUniqueOrThrow({ where: { id: ws.workspaceId } });
    expect([row.shopifyShopDomain, row.shopifyAccessToken]).toEqual([null, null]);
  });

  it('stores the shop and the token sealed, bound to the workspace', async () => {
    const ws = await t.workspace();
    const res = (await ws.gql(CONNECT, { shop: `https://${SHOP.toUpperCase()}/`, token: TOKEN })).data.connectShopify;
    expect(res).toEqual({ connected: true, errors: [] });
    const row = await t.prisma.workspace.findUniqueOrThrow({ where: { id: ws.workspaceId } });
    expect(row.shopifyShopDomain).toBe(SHOP);
    expect(row.shopifyAccessToken).not.toContain(TOKEN.slice(6));
    expect(secretBox(SECRET).open(row.shopifyAccessToken!, ws.workspaceId)).toBe(TOKEN);
  });
});

describe('provider names and the enable guard', () => {
  it('takes provider names in any case and stores them upper-case; refuses unknown ones', async () => {
    const ws = await t.workspace();
    for (const [given, stored] of [['stripe', 'STRIPE'], ['STRIPE', 'STRIPE'], ['builtin', 'BUILTIN'], ['Shopify', 'SHOPIFY']]) {
      const res = await ws.gql(CREATE, {
        input: { name: `P ${given}`, trigger: 'MANUAL', steps: [{ type: 'CREATE_DISCOUNT', discount: { provider: given, discountType: 'percent', percentOff: 5 } }] },
      });
      expect(res.data.createSequence.errors).toEqual([]);
      expect(res.data.createSequence.sequence.steps[0].discount.provider).toBe(stored);
    }
    const unknown = await ws.gql(CREATE, {
      input: { name: 'P paypal', trigger: 'MANUAL', steps: [{ type: 'CREATE_DISCOUNT', discount: { provider: 'paypal', discountType: 'percent', percentOff: 5 } }] },
    });
    expect(unknown.data.createSequence.errors[0]).toMatchObject({ field: ['input', 'steps', '0', 'discount', 'provider'], code: 'VALIDATION' });
    const repeating = await ws.gql(CREATE, { input: shopifySequence({ discountType: 'percent', percentOff: 5, duration: 'repeating', durationInMonths: 3 }) });
    expect(repeating.data.createSequence.errors[0]).toMatchObject({ field: ['input', 'steps', '0', 'discount', 'duration'] });
  });

  it('refuses to enable a sequence with a Shopify step until Shopify is connected', async () => {
    const ws = await t.workspace();
    const id = (await ws.gql(CREATE, { input: shopifySequence({ discountType: 'percent', percentOff: 10 }) })).data.createSequence.sequence.id;
    expect((await ws.gql(ENABLE, { id })).data.enableSequence.errors).toEqual([
      { field: ['id'], code: 'SHOPIFY_NOT_CONNECTED', message: 'The sequence creates Shopify discounts: connect Shopify first (connectShopify)' },
    ]);
    expect((await ws.gql(CONNECT, { shop: SHOP, token: TOKEN })).data.connectShopify.connected).toBe(true);
    expect((await ws.gql(ENABLE, { id })).data.enableSequence).toEqual({ sequence: { id, status: 'ACTIVE' }, errors: [] });
  });
});

describe('a CREATE_DISCOUNT step with provider SHOPIFY', () => {
  it('finds or creates the customer, creates the code with discountCodeBasicCreate, and the email shows it', async () => {
    const ws = await connectedWorkspace();
    const api = engineApi(t, ws);
    const sequenceId = await api.sequence(
      shopifySequence({ discountType: 'percent', percentOff: 15, maxRedemptions: 1, lockToSubscriber: true, expiresInHours: 48, codePrefix: 'WELCOME', name: 'Welcome offer' }),
    );
    const from = shopify.requests.length;
    const run = await api.enroll({ sequenceId, subscriber: { email: 'ada@shop.test', firstName: 'Ada', lastName: 'Lovelace' } });
    const [mail] = await api.waitForMail('ada@shop.test', 1);
    const done = await api.runWithStatus(run.id, 'COMPLETED');
    const code = done.discountCode!;
    expect(code).toMatch(/^WELCOME-[A-Z2-9]{10}$/);
    expect(mail!.text).toContain(`Use ${code} at checkout.`);

    expect(ops(from)).toEqual(['StepwiseCustomerByEmail', 'StepwiseCustomerCreate', 'StepwiseDiscountByCode', 'StepwiseDiscountCreate']);
    const [lookup, createCustomer, byCode, create] = shopify.requests.slice(from);
    for (const r of [lookup, createCustomer, byCode, create]) {
      expect(r!.path).toBe('/admin/api/2026-10/graphql.json');
      expect(r!.headers['x-shopify-access-token']).toBe(TOKEN);
    }
    expect(lookup!.variables).toEqual({ query: 'email:"ada@shop.test"' });
    expect(createCustomer!.variables).toEqual({ input: { email: 'ada@shop.test', firstName: 'Ada', lastName: 'Lovelace' } });
    expect(byCode!.variables).toEqual({ code });
    const customerId = shopify.customers.find((c) => c.email === 'ada@shop.test')!.id;
    const scheduledAt = new Date(done.history[0]!.scheduledAt);
    expect(create!.variables).toEqual({
      basicCodeDiscount: {
        title: `Welcome offer (${code})`,
        code,
        startsAt: scheduledAt.toISOString(),
        endsAt: new Date(scheduledAt.getTime() + 48 * 3_600_000).toISOString(),
        context: { customers: { add: [customerId] } },
        customerGets: { value: { percentage: 0.15 }, items: { all: true } },
        usageLimit: 1,
        appliesOncePerCustomer: true,
      },
    });
    const row = await t.prisma.discount.findFirstOrThrow({ where: { code } });
    expect(row).toMatchObject({ provider: 'SHOPIFY', externalId: shopify.discounts.at(-1)!.id, lockedToSubscriber: true, maxRedemptions: 1 });

    // A second run for the same person finds the customer instead of creating another.
    const second = shopify.requests.length;
    const again = await api.enroll({ sequenceId, subscriber: { email: 'ada@shop.test' } });
    await api.runWithStatus(again.id, 'COMPLETED');
    expect(ops(second)).toEqual(['StepwiseCustomerByEmail', 'StepwiseDiscountByCode', 'StepwiseDiscountCreate']);
  });

  it('sends a fixed amount for everyone, unlimited', async () => {
    const ws = await connectedWorkspace();
    const api = engineApi(t, ws);
    const sequenceId = await api.sequence(shopifySequence({ discountType: 'amount', amountOff: 500, currency: 'usd' }));
    const from = shopify.requests.length;
    const run = await api.enroll({ sequenceId, subscriber: { email: 'bo@shop.test' } });
    await api.runWithStatus(run.id, 'COMPLETED');
    expect(ops(from)).toEqual(['StepwiseDiscountByCode', 'StepwiseDiscountCreate']);
    expect(shopify.requests.at(-1)!.variables.basicCodeDiscount).toMatchObject({
      context: { all: 'ALL' },
      customerGets: { value: { discountAmount: { amount: '5.00', appliesOnEachItem: false } }, items: { all: true } },
      usageLimit: null,
      endsAt: null,
      appliesOncePerCustomer: false,
    });
  });

  it('fails the step at once when Shopify refuses the request (userErrors), with the reason recorded', async () => {
    const ws = await connectedWorkspace();
    const api = engineApi(t, ws);
    const sequenceId = await api.sequence(shopifySequence({ discountType: 'percent', percentOff: 100 }));
    shopify.failNext('StepwiseDiscountCreate', {
      userErrors: [{ field: ['basicCodeDiscount', 'customerGets', 'value', 'percentage'], code: 'VALUE_OUTSIDE_RANGE', message: 'Value must be less than 1' }],
    });
    const before = shopify.discounts.length;
    const run = await api.enroll({ sequenceId, subscriber: { email: 'cy@shop.test' } });
    const failed = await api.runWithStatus(run.id, 'FAILED');
    expect(failed.history[0]).toMatchObject({ status: 'FAILED', step: { position: 1, type: 'CREATE_DISCOUNT' } });
    expect(failed.history[0]!.error).toBe(
      'Shopify refused the discount: basicCodeDiscount.customerGets.value.percentage: Value must be less than 1',
    );
    expect(shopify.discounts.length).toBe(before);
    await settle(t);
    expect(api.mailTo('cy@shop.test')).toEqual([]);
    expect(await t.prisma.discount.count({ where: { provider: 'SHOPIFY', subscriber: { email: 'cy@shop.test' } } })).toBe(0);
  });

  it('retries a 5xx, looking the code up first, and creates one discount', async () => {
    const ws = await connectedWorkspace();
    const api = engineApi(t, ws);
    const sequenceId = await api.sequence(shopifySequence({ discountType: 'percent', percentOff: 20 }));
    shopify.failNext('StepwiseDiscountCreate', { status: 502 });
    const from = shopify.requests.length;
    const run = await api.enroll({ sequenceId, subscriber: { email: 'dee@shop.test' } });
    // The first attempt fails on the 502; the retry waits for pg-boss's backoff.
    await t.until(async () => ops(from).filter((o) => o === 'StepwiseDiscountCreate').length === 1);
    await settle(t);
    await t.advance(10 * 60_000);
    const done = await api.runWithStatus(run.id, 'COMPLETED');
    expect(ops(from)).toEqual(['StepwiseDiscountByCode', 'StepwiseDiscountCreate', 'StepwiseDiscountByCode', 'StepwiseDiscountCreate']);
    const creates = shopify.requests.slice(from).filter((r) => r.operation === 'StepwiseDiscountCreate');
    // The retry sent the same code and terms.
    expect(creates[1]!.variables).toEqual(creates[0]!.variables);
    expect(shopify.discounts.filter((d) => d.code === done.discountCode)).toHaveLength(1);
    await api.waitForMail('dee@shop.test', 1);
  });

  it('a retry after Shopify created the code but the answer was lost takes that code instead of creating another', async () => {
    const ws = await connectedWorkspace();
    const api = engineApi(t, ws);
    const sequenceId = await api.sequence(shopifySequence({ discountType: 'percent', percentOff: 25 }));
    shopify.failNext('StepwiseDiscountCreate', { status: 504, afterApplying: true });
    const from = shopify.requests.length;
    const before = shopify.discounts.length;
    const run = await api.enroll({ sequenceId, subscriber: { email: 'eve@shop.test' } });
    await t.until(async () => ops(from).includes('StepwiseDiscountCreate'));
    await settle(t);
    await t.advance(10 * 60_000);
    const done = await api.runWithStatus(run.id, 'COMPLETED');
    // The retry found the code by its lookup and created nothing more.
    expect(ops(from)).toEqual(['StepwiseDiscountByCode', 'StepwiseDiscountCreate', 'StepwiseDiscountByCode']);
    expect(shopify.discounts.length).toBe(before + 1);
    const row = await t.prisma.discount.findFirstOrThrow({ where: { code: done.discountCode! } });
    expect(row.externalId).toBe(shopify.discounts.at(-1)!.id);
    expect(shopify.discounts.at(-1)!.code).toBe(done.discountCode);
  });
});
