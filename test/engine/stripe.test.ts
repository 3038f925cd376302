// Stripe discounts: connectStripe, the enable guard, and CREATE_DISCOUNT steps
// with provider STRIPE against a local Stripe-speaking server on 127.0.0.1.
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { discountCode } from '../../src/engine/execute-step.js';
import { secretBox } from '../../src/integrations/secret-box.js';
import { useTestEngine } from '../helpers/engine.js';
import { startStripeServer, type RecordedRequest } from '../helpers/stripe-server.js';
import { engineApi, settle, type Workspace } from './support.js';

const SECRET = 'stepwise-test-secret-0123456789';
const STRIPE_KEY = 'sk_test_51StepwiseTestKey0123456789abcdef';

const t = await useTestEngine();
const stripe = await startStripeServer({ acceptKeys: [STRIPE_KEY] });
const withSecret = () => t.runtime.integrations.configure({ stripe: { secret: SECRET, host: '127.0.0.1', port: stripe.port, protocol: 'http' } });
withSecret();
afterAll(async () => {
  t.runtime.integrations.configure({ stripe: { host: 'api.stripe.com', port: 443, protocol: 'https' } });
  await stripe.close();
});

const CONNECT = `mutation($key: String!) { connectStripe(secretKey: $key) { connected errors { field message code } } }`;
const CREATE = `mutation($input: CreateSequenceInput!) { createSequence(input: $input) { sequence { id status } errors { field message code } } }`;
const ENABLE = `mutation($id: ID!) { enableSequence(id: $id) { sequence { id status } errors { field message code } } }`;

const stored = async (workspaceId: string) =>
  (await t.prisma.workspace.findUniqueOrThrow({ where: { id: workspaceId } })).stripeSecretKey;

function stripeSequence(discount: Record<string, unknown>, delay?: { hours: number }) {
  return {
    name: `Stripe offer ${Math.random().toString(36).slice(2, 8)}`,
    trigger: 'MANUAL',
    steps: [
      { type: 'CREATE_DISCOUNT', discount: { provider: 'STRIPE', ...discount }, ...(delay ? { delay } : {}) },
      { subject: 'Your code', blocks: [{ type: 'text', text: 'Use {{discount.code}} at checkout.' }] },
    ],
  };
}

async function connectedWorkspace(): Promise<Workspace> {
  const ws = await t.workspace();
  const res = await ws.gql(CONNECT, { key: STRIPE_KEY });
  expect(res.data.connectStripe).toEqual({ connected: true, errors: [] });
  return ws;
}

/** Form fields other than the metadata, which is asserted separately. */
const fields = (r: RecordedRequest) => Object.fromEntries(Object.entries(r.form).filter(([k]) => !k.startsWith('metadata[')));

beforeEach(() => withSecret());

describe('connectStripe', () => {
  it('refuses bad keys with a field error, writes nothing, and never echoes the key', async () => {
    const ws = await t.workspace();
    for (const key of ['', '   ', 'pk_test_51StepwiseTestKey0123456789', 'sk_test_short', 'sk_prod_51StepwiseTestKey0123456789', 'sk_test_51Stepwise Test Key 0123456789']) {
      const res = await ws.gql(CONNECT, { key });
      expect(res.errors).toBeUndefined();
      const payload = res.data.connectStripe;
      expect(payload.connected).toBe(false);
      expect(payload.errors).toHaveLength(1);
      expect(payload.errors[0]).toMatchObject({ field: ['secretKey'], code: 'VALIDATION' });
      expect(payload.errors[0].message).toMatch(/^secretKey must be a Stripe secret key/);
      if (key.trim()) expect(JSON.stringify(res)).not.toContain(key.trim());
    }
    expect(await stored(ws.workspaceId)).toBeNull();
  });

  it('is a clear error when the server has no STEPWISE_SECRET, and stores nothing', async () => {
    t.runtime.integrations.configure({ stripe: { host: '127.0.0.1', port: stripe.port, protocol: 'http' } });
    const ws = await t.workspace();
    const res = await ws.gql(CONNECT, { key: STRIPE_KEY });
    expect(res.data.connectStripe.connected).toBe(false);
    expect(res.data.connectStripe.errors).toEqual([
      {
        field: ['secretKey'],
        code: 'SECRET_NOT_CONFIGURED',
        message: 'Stripe cannot be connected: the server has no STEPWISE_SECRET to encrypt the key with',
      },
    ]);
    expect(await stored(ws.workspaceId)).toBeNull();
  });

  it('stores the key encrypted (AES-256-GCM, bound to the workspace), never in plain', async () => {
    const ws = await connectedWorkspace();
    const sealed = (await stored(ws.workspaceId))!;
    expect(sealed).not.toContain(STRIPE_KEY);
    expect(sealed).not.toContain(STRIPE_KEY.slice(8, 24));
    expect(sealed).toMatch(/^v1\.[\w-]+\.[\w-]+\.[\w-]+$/);
    expect(secretBox(SECRET).open(sealed, ws.workspaceId)).toBe(STRIPE_KEY);
    // Copied to another workspace, or read with another secret, it does not open.
    const other = await t.workspace();
    expect(() => secretBox(SECRET).open(sealed, other.workspaceId)).toThrow(/cannot be decrypted/);
    expect(() => secretBox('another-secret-0123456789').open(sealed, ws.workspaceId)).toThrow(/cannot be decrypted/);
    // Connecting again replaces it (a fresh IV: never the same ciphertext).
    expect((await ws.gql(CONNECT, { key: STRIPE_KEY })).data.connectStripe.connected).toBe(true);
    expect(await stored(ws.workspaceId)).not.toBe(sealed);
    // A bad key later keeps the earlier connection, and says so.
    const bad = (await ws.gql(CONNECT, { key: 'nope' })).data.connectStripe;
    expect(bad.connected).toBe(true);
    expect(bad.errors).toHaveLength(1);
  });
});

describe('enabling a sequence with a Stripe discount step', () => {
  it('is refused with STRIPE_NOT_CONNECTED until Stripe is connected', async () => {
    const ws = await t.workspace();
    const created = await ws.gql(CREATE, { input: stripeSequence({ discountType: 'percent', percentOff: 10 }) });
    expect(created.data.createSequence.errors).toEqual([]);
    const id = created.data.createSequence.sequence.id;

    const refused = await ws.gql(ENABLE, { id });
    expect(refused.data.enableSequence.errors).toEqual([
      { field: ['id'], code: 'STRIPE_NOT_CONNECTED', message: 'The sequence creates Stripe discounts: connect Stripe first (connectStripe)' },
    ]);
    expect(await t.prisma.sequence.findFirstOrThrow({ where: { workspaceId: ws.workspaceId } })).toMatchObject({ status: 'DRAFT' });

    // A built-in discount needs no connection.
    const builtin = await ws.gql(CREATE, {
      input: { name: 'Built-in', trigger: 'MANUAL', steps: [{ type: 'CREATE_DISCOUNT', discount: { discountType: 'percent', percentOff: 10 } }] },
    });
    expect((await ws.gql(ENABLE, { id: builtin.data.createSequence.sequence.id })).data.enableSequence.errors).toEqual([]);

    expect((await ws.gql(CONNECT, { key: STRIPE_KEY })).data.connectStripe.connected).toBe(true);
    const enabled = await ws.gql(ENABLE, { id });
    expect(enabled.data.enableSequence).toEqual({ sequence: { id, status: 'ACTIVE' }, errors: [] });
  });
});

describe('a CREATE_DISCOUNT step with provider STRIPE', () => {
  it('creates a customer, a coupon and a locked promotion code, and later emails show the code', async () => {
    const ws = await connectedWorkspace();
    const api = engineApi(t, ws);
    const sequenceId = await api.sequence(
      stripeSequence({
        discountType: 'percent',
        percentOff: 20,
        duration: 'repeating',
        durationInMonths: 3,
        appliesToAllPlans: false,
        planIds: ['prod_basic', 'prod_pro'],
        maxRedemptions: 1,
        expiresInHours: 48,
        lockToSubscriber: true,
        codePrefix: 'welcome_back',
        name: 'Welcome back',
      }),
    );
    const from = stripe.requests.length;
    const run = await api.enroll({ sequenceId, subscriber: { email: 'ada@example.com', firstName: 'Ada', lastName: 'Lovelace' } });
    const done = await api.runWithStatus(run.id, 'COMPLETED');

    const discount = await t.prisma.discount.findFirstOrThrow({ where: { workspaceId: ws.workspaceId } });
    const key = `stepwise-${discount.enrollmentId}-${discount.stepId}`;
    const requests = stripe.since(from);
    expect(requests.map((r) => `${r.method} ${r.path}`)).toEqual([
      'GET /v1/customers',
      'POST /v1/customers',
      'POST /v1/coupons',
      'POST /v1/promotion_codes',
    ]);
    for (const r of requests) expect(r.headers.authorization).toBe(`Bearer ${STRIPE_KEY}`);
    const [list, customer, coupon, promotionCode] = requests as [RecordedRequest, RecordedRequest, RecordedRequest, RecordedRequest];

    expect(list.query).toEqual({ email: 'ada@example.com', limit: '1' });
    expect(fields(customer)).toEqual({ email: 'ada@example.com', name: 'Ada Lovelace' });
    expect(customer.headers['idempotency-key']).toBe(`${key}-customer`);
    const customerId = stripe.customers.at(-1)!.id;

    expect(fields(coupon)).toEqual({
      percent_off: '20',
      duration: 'repeating',
      duration_in_months: '3',
      'applies_to[products][0]': 'prod_basic',
      'applies_to[products][1]': 'prod_pro',
      name: 'Welcome back',
    });
    expect(coupon.form).toMatchObject({
      'metadata[stepwise_run]': discount.enrollmentId,
      'metadata[stepwise_step]': discount.stepId,
      'metadata[stepwise_workspace]': ws.workspaceId,
    });
    expect(coupon.headers['idempotency-key']).toBe(`${key}-coupon`);
    const couponId = stripe.coupons.at(-1)!.id;

    expect(fields(promotionCode)).toEqual({
      'promotion[type]': 'coupon',
      'promotion[coupon]': couponId,
      code: expect.stringMatching(/^WELCOME-BACK-[A-HJ-NP-Z2-9]{10}$/),
      customer: customerId,
      max_redemptions: '1',
      expires_at: String(Math.floor(discount.expiresAt!.getTime() / 1000)),
    });
    expect(promotionCode.headers['idempotency-key']).toBe(`${key}-promotion-code`);
    // 48 hours after the step fell due (the same on every attempt).
    expect(discount.expiresAt!.getTime() - new Date(done.history[0]!.scheduledAt).getTime()).toBe(48 * 3_600_000);

    const promo = stripe.promotionCodes.at(-1)!;
    expect(discount).toMatchObject({
      provider: 'STRIPE',
      code: promo.code,
      externalId: promo.id,
      externalCouponId: couponId,
      discountType: 'percent',
      percentOff: 20,
      duration: 'repeating',
      durationInMonths: 3,
      planIds: ['prod_basic', 'prod_pro'],
      maxRedemptions: 1,
      lockedToSubscriber: true,
    });
    expect(done.discountCode).toBe(promo.code);
    expect(done.history.map((h) => [h.step.type, h.status])).toEqual([
      ['CREATE_DISCOUNT', 'SENT'],
      ['EMAIL', 'SENT'],
    ]);
    const [mail] = await api.waitForMail('ada@example.com', 1);
    expect(mail!.text).toContain(`Use ${promo.code} at checkout.`);
  });

  it('finds an existing Stripe customer by email instead of creating one', async () => {
    const ws = await connectedWorkspace();
    const api = engineApi(t, ws);
    const existing = stripe.addCustomer('bob@example.com');
    const sequenceId = await api.sequence(stripeSequence({ discountType: 'percent', percentOff: 15, lockToSubscriber: true }));
    const from = stripe.requests.length;
    const run = await api.enroll({ sequenceId, subscriber: { email: 'bob@example.com' } });
    await api.runWithStatus(run.id, 'COMPLETED');
    const requests = stripe.since(from);
    expect(requests.map((r) => `${r.method} ${r.path}`)).toEqual(['GET /v1/customers', 'POST /v1/coupons', 'POST /v1/promotion_codes']);
    expect(requests[2]!.form.customer).toBe(existing);
  });

  it('sends an amount discount with its currency and a fixed expiry, unlocked', async () => {
    const ws = await connectedWorkspace();
    const api = engineApi(t, ws);
    const expiresAt = '2031-06-30T12:00:00.000Z';
    const sequenceId = await api.sequence(
      stripeSequence({ discountType: 'amount', amountOff: 500, currency: 'EUR', duration: 'forever', expiresAt }),
    );
    const from = stripe.requests.length;
    const run = await api.enroll({ sequenceId, subscriber: { email: 'cleo@example.com' } });
    await api.runWithStatus(run.id, 'COMPLETED');
    const requests = stripe.since(from);
    expect(requests.map((r) => `${r.method} ${r.path}`)).toEqual(['POST /v1/coupons', 'POST /v1/promotion_codes']);
    expect(fields(requests[0]!)).toEqual({ amount_off: '500', currency: 'eur', duration: 'forever' });
    expect(fields(requests[1]!)).toEqual({
      'promotion[type]': 'coupon',
      'promotion[coupon]': stripe.coupons.at(-1)!.id,
      code: expect.stringMatching(/^[A-HJ-NP-Z2-9]{10}$/),
      expires_at: String(Date.parse(expiresAt) / 1000),
    });
    const discount = await t.prisma.discount.findFirstOrThrow({ where: { workspaceId: ws.workspaceId } });
    expect(discount).toMatchObject({ provider: 'STRIPE', amountOff: 500, currency: 'eur', lockedToSubscriber: false, expiresAt: new Date(expiresAt) });
  });

  it('fails the step at once on a Stripe 400, with the message recorded, and the run FAILED', async () => {
    const ws = await connectedWorkspace();
    const api = engineApi(t, ws);
    const sequenceId = await api.sequence(stripeSequence({ discountType: 'percent', percentOff: 30 }));
    stripe.failNext('/v1/coupons', { status: 400, message: 'Coupon percent_off is not allowed for this account', param: 'percent_off' });
    const from = stripe.requests.length;
    const run = await api.enroll({ sequenceId, subscriber: { email: 'dan@example.com' } });
    const failed = await api.runWithStatus(run.id, 'FAILED');
    expect(failed.history).toHaveLength(1);
    expect(failed.history[0]).toMatchObject({ status: 'FAILED', step: { position: 1, type: 'CREATE_DISCOUNT' } });
    expect(failed.history[0]!.error).toBe('Stripe (400): Coupon percent_off is not allowed for this account');
    expect(failed.discountCode).toBeNull();
    // Not retried: one attempt reached Stripe, and no job of the run is left.
    await settle(t);
    expect(stripe.since(from).map((r) => `${r.method} ${r.path}`)).toEqual(['POST /v1/coupons']);
    expect(await t.prisma.discount.count({ where: { workspaceId: ws.workspaceId } })).toBe(0);
    expect(api.mailTo('dan@example.com')).toEqual([]);
  });

  it('fails the step when Stripe refuses the stored key (401), without retrying', async () => {
    const ws = await t.workspace();
    // A well-formed key that this Stripe account does not know.
    expect((await ws.gql(CONNECT, { key: 'rk_live_51UnknownRestrictedKey0123456' })).data.connectStripe.connected).toBe(true);
    const api = engineApi(t, ws);
    const sequenceId = await api.sequence(stripeSequence({ discountType: 'percent', percentOff: 5 }));
    const run = await api.enroll({ sequenceId, subscriber: { email: 'eve@example.com' } });
    const failed = await api.runWithStatus(run.id, 'FAILED');
    expect(failed.history[0]!.error).toMatch(/^Stripe \(401\): Invalid API Key provided: /);
    expect(failed.history[0]!.error).not.toContain('rk_live_51UnknownRestrictedKey0123456');
  });

  it('retries a rate-limited (429) request with the same idempotency keys, creating one coupon', async () => {
    const ws = await connectedWorkspace();
    const api = engineApi(t, ws);
    const sequenceId = await api.sequence(stripeSequence({ discountType: 'percent', percentOff: 25 }));
    stripe.failNext('/v1/promotion_codes', { status: 429, type: 'invalid_request_error', code: 'rate_limit', message: 'Too many requests' });
    const couponsBefore = stripe.coupons.length;
    const from = stripe.requests.length;
    const run = await api.enroll({ sequenceId, subscriber: { email: 'fay@example.com' } });
    // The first attempt is rejected; pg-boss retries it after its backoff.
    await t.until(async () => stripe.since(from).some((r) => r.path === '/v1/promotion_codes'));
    await settle(t);
    await t.advance(10 * 60_000);
    const done = await api.runWithStatus(run.id, 'COMPLETED');

    const requests = stripe.since(from);
    expect(requests.map((r) => [r.path, r.headers['idempotency-key'], r.replayed])).toEqual([
      ['/v1/coupons', expect.stringMatching(/-coupon$/), false],
      ['/v1/promotion_codes', expect.stringMatching(/-promotion-code$/), false],
      ['/v1/coupons', requests[0]!.headers['idempotency-key'], true],
      ['/v1/promotion_codes', requests[1]!.headers['idempotency-key'], false],
    ]);
    // The retry asked for the same code, and Stripe holds one coupon for the run.
    expect(requests[3]!.form.code).toBe(requests[1]!.form.code);
    expect(stripe.coupons.length - couponsBefore).toBe(1);
    expect(done.discountCode).toBe(requests[3]!.form.code);
    expect(done.history[0]).toMatchObject({ status: 'SENT', error: null });
  });

  it('gets the same coupon back when the commit after Stripe failed and the job is retried', async () => {
    const ws = await connectedWorkspace();
    const api = engineApi(t, ws);
    const sequenceId = await api.sequence(
      stripeSequence({ discountType: 'percent', percentOff: 40, expiresInHours: 24, lockToSubscriber: true }, { hours: 1 }),
    );
    const run = await api.enroll({ sequenceId, subscriber: { email: 'gus@example.com', firstName: 'Gus' } });
    const row = await t.prisma.enrollment.findFirstOrThrow({ where: { workspaceId: ws.workspaceId } });
    const step = await t.prisma.step.findFirstOrThrow({ where: { sequenceId: row.sequenceId, position: 1 } });
    // The code the step will ask Stripe for is already taken in Stepwise: its commit fails.
    const code = discountCode(null, secretBox(SECRET).derive(`discount-code:${row.id}:${step.id}`, 10));
    const blocker = await t.prisma.discount.create({
      data: { workspaceId: ws.workspaceId, provider: 'BUILTIN', code, discountType: 'percent', percentOff: 1 },
    });
    const couponsBefore = stripe.coupons.length;
    const from = stripe.requests.length;
    await t.advance(3_600_000 + 60_000);
    await t.until(async () => stripe.since(from).some((r) => r.path === '/v1/promotion_codes'));
    await settle(t);
    expect((await api.run(run.id)).status).toBe('ACTIVE');

    // Later, and after the blocker is gone, the retry commits what Stripe already made.
    await t.prisma.discount.delete({ where: { id: blocker.id } });
    await t.advance(10 * 60_000);
    const done = await api.runWithStatus(run.id, 'COMPLETED');
    const requests = stripe.since(from);
    expect(requests.map((r) => [`${r.method} ${r.path}`, r.replayed])).toEqual([
      ['GET /v1/customers', false],
      ['POST /v1/customers', false],
      ['POST /v1/coupons', false],
      ['POST /v1/promotion_codes', false],
      ['GET /v1/customers', false],
      ['POST /v1/coupons', true],
      ['POST /v1/promotion_codes', true],
    ]);
    expect(stripe.coupons.length - couponsBefore).toBe(1);
    const discount = await t.prisma.discount.findFirstOrThrow({ where: { enrollmentId: row.id } });
    expect(discount).toMatchObject({
      code,
      externalId: stripe.promotionCodes.at(-1)!.id,
      externalCouponId: stripe.coupons.at(-1)!.id,
    });
    expect(done.discountCode).toBe(code);
  });
});
