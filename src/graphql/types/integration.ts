// Connections to outside services (Stripe, Shopify).
import { connectShopify, connectStripe, isShopifyConnected, isStripeConnected } from '../../services/integrations.js';
import { builder } from '../builder.js';
import { payload, UserErrorRef, type UserErrorShape } from './user-error.js';

const ConnectPayload = builder.objectRef<{ connected?: boolean; errors: UserErrorShape[] }>('ConnectPayload').implement({
  fields: (t) => ({
    connected: t.boolean({
      description: 'Whether the workspace is connected after this call',
      resolve: (p) => p.connected ?? false,
    }),
    errors: t.field({ type: [UserErrorRef], resolve: (p) => p.errors }),
  }),
});

builder.mutationFields((t) => ({
  connectStripe: t.field({
    type: ConnectPayload,
    description: "Connects the workspace's Stripe account; the key is stored encrypted and never returned.",
    args: { secretKey: t.arg.string({ required: true }) },
    resolve: async (_root, args, ctx) => {
      const result = await payload(async () => {
        await connectStripe(ctx, args.secretKey);
        return { connected: true };
      });
      // A refused key leaves an earlier connection as it was: say so.
      if (result.errors.length) result.connected = await isStripeConnected(ctx.runtime.db, ctx.workspaceId);
      return result;
    },
  }),
  connectShopify: t.field({
    type: ConnectPayload,
    description:
      "Connects the workspace's Shopify shop for SHOPIFY discount steps: its myshopify.com domain and an Admin API access token (scopes write_discounts, read_customers, write_customers), stored encrypted and never returned.",
    args: { shopDomain: t.arg.string({ required: true }), accessToken: t.arg.string({ required: true }) },
    resolve: async (_root, args, ctx) => {
      const result = await payload(async () => {
        await connectShopify(ctx, args);
        return { connected: true };
      });
      if (result.errors.length) result.connected = await isShopifyConnected(ctx.runtime.db, ctx.workspaceId);
      return result;
    },
  }),
}));
