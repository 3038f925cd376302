// Connecting a workspace to outside services. The Stripe secret key is stored
// sealed (AES-256-GCM, bound to the workspace) and never returned or logged.
import { z } from 'zod';
import { transaction } from '../db/transaction.js';
import type { Tx } from '../db/client.js';
import { UserError } from '../domain/errors.js';
import { providerSecrets, STRIPE_KEY_PATTERN } from '../integrations/stripe.js';
import type { Actor } from './sequences.js';
import { parseInput } from './user-input.js';

const stripeKeySchema = z
  .string()
  .trim()
  // The message never repeats the value: it is a secret.
  .regex(STRIPE_KEY_PATTERN, { message: 'must be a Stripe secret key (sk_test_…, sk_live_…) or restricted key (rk_…)' });

export async function connectStripe(actor: Actor, rawSecretKey: unknown): Promise<void> {
  const box = providerSecrets();
  if (!box) {
    throw new UserError(
      'Stripe cannot be connected: the server has no STEPWISE_SECRET to encrypt the key with',
      ['secretKey'],
      'SECRET_NOT_CONFIGURED',
    );
  }
  const secretKey = parseInput(stripeKeySchema, rawSecretKey, ['secretKey']);
  await transaction(async (tx) => {
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

/** The workspace's Stripe key, decrypted; throws (with a reason, never the key) when it cannot be had. */
export async function stripeSecretKey(tx: Tx, workspaceId: string): Promise<string> {
  const workspace = await tx.workspace.findUnique({ where: { id: workspaceId }, select: { stripeSecretKey: true } });
  if (!workspace?.stripeSecretKey) throw new Error('Stripe is not connected (connectStripe)');
  const box = providerSecrets();
  if (!box) throw new Error('Stripe is connected but this server has no STEPWISE_SECRET to decrypt the key');
  return box.open(workspace.stripeSecretKey, workspaceId);
}
