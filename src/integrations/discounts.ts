// Issuing a discount code with a provider: the one function the engine calls
// for a discount step (a network call, made outside any transaction). BUILTIN
// codes are made here; STRIPE codes are created in the workspace's Stripe account
// with idempotency keys derived from run and step, so a retry gets Stripe's first
// answer back. Other providers plug in here.
import { randomBytes } from 'node:crypto';
import type { DiscountTerms } from '../domain/sequence-input.js';
import type { Tx } from '../db/client.js';
import { createShopifyDiscount, ShopifyUnavailable } from './shopify.js';
import type { SecretBox } from './secret-box.js';
import type { Integrations } from './settings.js';

/** A refusal that retrying cannot fix (a 4xx, a provider not connected): the step fails now. */
export class DiscountRefused extends Error {}

const CODE_ALPHABET = 'ABCDEFGHJKLMNPQRSTUVWXYZ23456789';

/** A code that is hard to guess and easy to type (no 0/O, 1/I); 32 letters, so every byte maps evenly. */
export function discountCode(prefix: string | null | undefined, bytes: Buffer = randomBytes(10)): string {
  const body = [...bytes].map((b) => CODE_ALPHABET[b % CODE_ALPHABET.length]).join('');
  return prefix ? `${prefix}-${body}` : body;
}

/** The workspace's Stripe key, decrypted; throws (with a reason, never the key) when it cannot be had. */
export async function stripeSecretKey(tx: Pick<Tx, 'workspace'>, box: SecretBox | null, workspaceId: string): Promise<string> {
  const workspace = await tx.workspace.findUnique({ where: { id: workspaceId }, select: { stripeSecretKey: true } });
  if (!workspace?.stripeSecretKey) throw new Error('Stripe is not connected (connectStripe)');
  if (!box) throw new Error('Stripe is connected but this server has no STEPWISE_SECRET to decrypt the key');
  return box.open(workspace.stripeSecretKey, workspaceId);
}

/** The workspace's shop and decrypted token; throws (with a reason, never the token) when they cannot be had. */
export async function shopifyCredentials(
  tx: Pick<Tx, 'workspace'>,
  box: SecretBox | null,
  workspaceId: string,
): Promise<{ shopDomain: string; accessToken: string }> {
  const workspace = await tx.workspace.findUnique({
    where: { id: workspaceId },
    select: { shopifyShopDomain: true, shopifyAccessToken: true },
  });
  if (!workspace?.shopifyAccessToken || !workspace.shopifyShopDomain) throw new Error('Shopify is not connected (connectShopify)');
  if (!box) throw new Error('Shopify is connected but this server has no STEPWISE_SECRET to decrypt the token');
  return { shopDomain: workspace.shopifyShopDomain, accessToken: box.open(workspace.shopifyAccessToken, workspaceId) };
}

export interface DiscountRequest {
  terms: DiscountTerms;
  workspaceId: string;
  runId: string;
  stepId: string;
  subscriber: { id: string; email: string; firstName: string | null; lastName: string | null };
  /** When the step fell due: stable across retries, so a retried request carries the same expiry. */
  scheduledAt: Date;
  at: Date;
  /** Reads the provider's secret (a short read, not a transaction held across the call). */
  secrets: Pick<Tx, 'workspace'>;
  /** The runtime's provider endpoints and secret box. */
  integrations: Integrations;
}

export interface IssuedDiscount {
  provider: string;
  code: string;
  externalId: string | null;
  externalCouponId: string | null;
  expiresAt: Date | null;
}

/** Issues the code. Throws DiscountRefused for a refusal, anything else for a transient failure. */
export async function issueDiscount(request: DiscountRequest): Promise<IssuedDiscount> {
  const { terms } = request;
  if (terms.provider !== 'BUILTIN' && terms.provider !== 'STRIPE' && terms.provider !== 'SHOPIFY') {
    throw new DiscountRefused(`${String(terms.provider)} discounts need the ${String(terms.provider)} integration, which is not connected`);
  }
  // Providers are asked idempotently, so a retry must send the same expiry:
  // count from when the step fell due, which stays the same across attempts.
  const from = terms.provider === 'BUILTIN' ? request.at : request.scheduledAt;
  const expiresAt = terms.expiresAt
    ? new Date(terms.expiresAt)
    : terms.expiresInHours
      ? new Date(from.getTime() + terms.expiresInHours * 3_600_000)
      : null;
  if (terms.provider === 'BUILTIN') {
    return { provider: 'BUILTIN', code: discountCode(terms.codePrefix), externalId: null, externalCouponId: null, expiresAt };
  }
  if (terms.provider === 'SHOPIFY') return issueShopify(request, expiresAt);
  let secretKey: string;
  try {
    secretKey = await stripeSecretKey(request.secrets, request.integrations.secrets, request.workspaceId);
  } catch (error) {
    throw new DiscountRefused(error instanceof Error ? error.message : String(error));
  }
  // Stripe codes take letters, digits and dashes.
  const prefix = terms.codePrefix?.replaceAll('_', '-');
  const code = discountCode(prefix, request.integrations.secrets!.derive(`discount-code:${request.runId}:${request.stepId}`, 10));
  const { subscriber } = request;
  // The Stripe SDK (a large module graph) is loaded by the first Stripe discount, not by every worker.
  const { createStripeDiscount, describeStripeError, isTransientStripeError } = await import('./stripe.js');
  try {
    const created = await createStripeDiscount(request.integrations.stripe, {
      secretKey,
      idempotencyKey: `stepwise-${request.runId}-${request.stepId}`,
      code,
      terms,
      expiresAt,
      customer: terms.lockToSubscriber
        ? { email: subscriber.email, name: [subscriber.firstName, subscriber.lastName].filter(Boolean).join(' ') || null }
        : null,
      metadata: {
        stepwise_workspace: request.workspaceId,
        stepwise_run: request.runId,
        stepwise_step: request.stepId,
        stepwise_subscriber: subscriber.id,
      },
    });
    return { provider: 'STRIPE', code: created.code, externalId: created.promotionCodeId, externalCouponId: created.couponId, expiresAt };
  } catch (error) {
    const message = describeStripeError(error);
    if (isTransientStripeError(error)) throw new Error(message, { cause: error });
    throw new DiscountRefused(message);
  }
}

/**
 * The code in the workspace's Shopify shop. It is derived from run and step and
 * looked up before it is created, so a retry finds the first attempt's discount.
 * Shopify refusing (userErrors, 4xx) fails the step now; the network, throttling
 * and 5xx are retried.
 */
async function issueShopify(request: DiscountRequest, expiresAt: Date | null): Promise<IssuedDiscount> {
  const { terms, subscriber } = request;
  let credentials: { shopDomain: string; accessToken: string };
  try {
    credentials = await shopifyCredentials(request.secrets, request.integrations.secrets, request.workspaceId);
  } catch (error) {
    throw new DiscountRefused(error instanceof Error ? error.message : String(error));
  }
  const code = discountCode(terms.codePrefix, request.integrations.secrets!.derive(`discount-code:${request.runId}:${request.stepId}`, 10));
  try {
    const created = await createShopifyDiscount(request.integrations.shopify, {
      ...credentials,
      code,
      title: `${(terms.name ?? terms.label)?.trim() || 'Stepwise discount'} (${code})`,
      terms,
      startsAt: request.scheduledAt,
      expiresAt,
      customer: terms.lockToSubscriber ? { email: subscriber.email, firstName: subscriber.firstName, lastName: subscriber.lastName } : null,
    });
    return { provider: 'SHOPIFY', code, externalId: created.discountId, externalCouponId: null, expiresAt };
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    if (error instanceof ShopifyUnavailable) throw new Error(message, { cause: error });
    throw new DiscountRefused(message);
  }
}
