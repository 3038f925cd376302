// Stripe discounts through the official SDK: a coupon with the step's terms, and
// a promotion code (the code the subscriber types) for it, optionally locked to
// the subscriber's Stripe customer. Every write carries an idempotency key derived
// from run and step, so a retried job gets Stripe's first answer back instead of a
// second coupon. The endpoint is configurable (STRIPE_API_HOST/PORT/PROTOCOL).
import Stripe from 'stripe';
import type { DiscountTerms } from '../domain/sequence-input.js';

export interface StripeSettings {
  /** STEPWISE_SECRET: encrypts stored keys; unset means Stripe cannot be connected. */
  secret?: string;
  host: string;
  port: number;
  protocol: 'http' | 'https';
}


/** sk_test_…, sk_live_… or a restricted key rk_test_… / rk_live_…. */
export const STRIPE_KEY_PATTERN = /^(sk|rk)_(test|live)_[A-Za-z0-9]{16,247}$/;

function client(settings: StripeSettings, secretKey: string): Stripe {
  return new Stripe(secretKey, {
    host: settings.host,
    port: settings.port,
    protocol: settings.protocol,
    // pg-boss retries the whole step (with backoff); the SDK does not retry on its own.
    maxNetworkRetries: 0,
    // The step holds its run's row lock meanwhile: do not wait for ever.
    timeout: 10_000,
    telemetry: false,
    appInfo: { name: 'Stepwise' },
  });
}

export interface StripeDiscountRequest {
  secretKey: string;
  /** Stable for one run and step: `stepwise-<run>-<step>`; each call appends what it creates. */
  idempotencyKey: string;
  code: string;
  terms: DiscountTerms;
  expiresAt: Date | null;
  /** The subscriber the code is locked to (lockToSubscriber), or null. */
  customer: { email: string; name: string | null } | null;
  metadata: Record<string, string>;
}

export interface StripeDiscount {
  couponId: string;
  promotionCodeId: string;
  code: string;
  customerId: string | null;
}

export async function createStripeDiscount(settings: StripeSettings, request: StripeDiscountRequest): Promise<StripeDiscount> {
  const stripe = client(settings, request.secretKey);
  const { terms } = request;
  const key = (what: string) => ({ idempotencyKey: `${request.idempotencyKey}-${what}` });

  const customerId = request.customer ? await findOrCreateCustomer(stripe, request.customer, request.metadata, key('customer')) : null;

  const name = (terms.name ?? terms.label)?.trim();
  const coupon = await stripe.coupons.create(
    {
      ...(terms.discountType === 'percent'
        ? { percent_off: terms.percentOff! }
        : { amount_off: terms.amountOff!, currency: terms.currency! }),
      duration: terms.duration,
      ...(terms.duration === 'repeating' ? { duration_in_months: terms.durationInMonths! } : {}),
      ...(terms.planIds?.length ? { applies_to: { products: terms.planIds } } : {}),
      // Stripe allows 40 characters for a coupon's name.
      ...(name ? { name: name.slice(0, 40) } : {}),
      metadata: request.metadata,
    },
    key('coupon'),
  );

  const promotionCode = await stripe.promotionCodes.create(
    {
      promotion: { type: 'coupon', coupon: coupon.id },
      code: request.code,
      ...(customerId ? { customer: customerId } : {}),
      ...(terms.maxRedemptions ? { max_redemptions: terms.maxRedemptions } : {}),
      ...(request.expiresAt ? { expires_at: Math.floor(request.expiresAt.getTime() / 1000) } : {}),
      metadata: request.metadata,
    },
    key('promotion-code'),
  );

  return { couponId: coupon.id, promotionCodeId: promotionCode.id, code: promotionCode.code, customerId };
}

/** The customer with this email (Stripe lists the newest first), or a new one. */
async function findOrCreateCustomer(
  stripe: Stripe,
  customer: { email: string; name: string | null },
  metadata: Record<string, string>,
  options: Stripe.RequestOptions,
): Promise<string> {
  const found = await stripe.customers.list({ email: customer.email, limit: 1 });
  if (found.data[0]) return found.data[0].id;
  const created = await stripe.customers.create(
    { email: customer.email, ...(customer.name ? { name: customer.name } : {}), metadata },
    options,
  );
  return created.id;
}

/**
 * Whether trying again later can help: the network, rate limits (429), Stripe's
 * own faults (5xx) and concurrent use of an idempotency key (409). Everything else
 * (invalid request, authentication, permission: 4xx) fails the step at once.
 */
export function isTransientStripeError(error: unknown): boolean {
  if (!(error instanceof Stripe.errors.StripeError)) return true;
  if (error instanceof Stripe.errors.StripeConnectionError) return true;
  const status = error.statusCode;
  if (status === undefined) return error instanceof Stripe.errors.StripeAPIError;
  return status === 409 || status === 429 || status >= 500;
}

/** A one-line description for the run's history: never the key, which Stripe masks in its own messages. */
export function describeStripeError(error: unknown): string {
  if (error instanceof Stripe.errors.StripeError) {
    const detail = [error.statusCode, error.code].filter((v) => v !== undefined && v !== null).join(' ');
    return `Stripe${detail ? ` (${detail})` : ''}: ${error.message}`;
  }
  return `Stripe: ${error instanceof Error ? error.message : String(error)}`;
}
