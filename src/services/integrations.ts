// Connecting a workspace to outside services. The Stripe secret key is stored
// sealed (AES-256-GCM, bound to the workspace) and never returned or logged.
import { z } from 'zod';
import { transaction } from '../db/transaction.js';
import type { Tx } from '../db/client.js';
import { UserError } from '../domain/errors.js';
import { SHOPIFY_DOMAIN_PATTERN, SHOPIFY_TOKEN_PATTERN } from '../integrations/shopify.js';
import { STRIPE_KEY_PATTERN } from '../integrations/stripe.js';
import type { Actor, Caller } from '../auth/actor.js';
import { parseInput } from './user-input.js';

const stripeKeySchema = z
  .string()
  .trim()
  // The message never repeats the value: it is a secret.
  .regex(STRIPE_KEY_PATTERN, { message: 'must be a Stripe secret key (sk_test_…, sk_live_…) or restricted key (rk_…)' });

export async function connectStripe(actor: Caller, rawSecretKey: unknown): Promise<void> {
  const box = actor.runtime.integrations.secrets;
  if (!box) {
    throw new UserError(
      'Stripe cannot be connected: the server has no STEPWISE_SECRET to encrypt the key with',
      ['secretKey'],
      'SECRET_NOT_CONFIGURED',
    );
  }
  const secretKey = parseInput(stripeKeySchema, rawSecretKey, ['secretKey']);
  await transaction(actor.runtime, async (tx) => {
    await tx.workspace.update({
      where: { id: actor.workspaceId },
      data: { stripeSecretKey: box.seal(secretKey, actor.workspaceId) },
    });
  });
}

export async function isStripeConnected(tx: Tx, workspaceId: string): Promise<boolean> {
  const workspace = await tx.workspace.findUnique({ where: { id: workspaceId }, select: { stripeSecretKey: true } });
  return Boolean(workspace?.stripeSecretKey);
}

const shopifyInputSchema = z.object({
  shopDomain: z
    .string()
    .trim()
    .toLowerCase()
    // Accept what people paste: https://name.myshopify.com/ or name.myshopify.com.
    .transform((d) => d.replace(/^https?:\/\//, '').replace(/\/+$/, ''))
    .pipe(z.string().regex(SHOPIFY_DOMAIN_PATTERN, { message: 'must be the shop’s myshopify.com domain (name.myshopify.com)' })),
  // The message never repeats the value: it is a secret.
  accessToken: z.string().trim().regex(SHOPIFY_TOKEN_PATTERN, { message: 'must be a Shopify Admin API access token (shpat_…)' }),
});

/** Stores the shop and its Admin API token (sealed like Stripe's key, bound to the workspace). */
export async function connectShopify(actor: Caller, raw: { shopDomain: unknown; accessToken: unknown }): Promise<void> {
  const box = actor.runtime.integrations.secrets;
  if (!box) {
    throw new UserError(
      'Shopify cannot be connected: the server has no STEPWISE_SECRET to encrypt the token with',
      ['accessToken'],
      'SECRET_NOT_CONFIGURED',
    );
  }
  const input = parseInput(shopifyInputSchema, raw, []);
  await transaction(actor.runtime, async (tx) => {
    await tx.workspace.update({
      where: { id: actor.workspaceId },
      data: { shopifyShopDomain: input.shopDomain, shopifyAccessToken: box.seal(input.accessToken, actor.workspaceId) },
    });
  });
}

export async function isShopifyConnected(tx: Tx, workspaceId: string): Promise<boolean> {
  const workspace = await tx.workspace.findUnique({ where: { id: workspaceId }, select: { shopifyAccessToken: true } });
  return Boolean(workspace?.shopifyAccessToken);
}

export { shopifyCredentials, stripeSecretKey } from '../integrations/discounts.js';
