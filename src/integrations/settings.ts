// Where the discount providers are reached and the box sealing their stored
// secrets: one per runtime (src/runtime.ts), from STEPWISE_SECRET, STRIPE_API_*
// and SHOPIFY_API_*. Tests point a runtime's at local servers with `configure`.
import { DEFAULT_SHOPIFY_API_VERSION, type ShopifySettings } from './shopify.js';
import { secretBox, type SecretBox } from './secret-box.js';
import type { StripeSettings } from './stripe.js';

export class Integrations {
  stripe: StripeSettings = { host: 'api.stripe.com', port: 443, protocol: 'https' };
  shopify: ShopifySettings = { apiVersion: DEFAULT_SHOPIFY_API_VERSION };
  /** Seals provider secrets; null when STEPWISE_SECRET is not set (nothing can be connected). */
  secrets: SecretBox | null = null;

  constructor(settings: { stripe?: StripeSettings; shopify?: ShopifySettings } = {}) {
    this.configure(settings);
  }

  configure(next: { stripe?: StripeSettings; shopify?: ShopifySettings }): void {
    if (next.stripe) {
      this.stripe = { ...next.stripe };
      this.secrets = next.stripe.secret ? secretBox(next.stripe.secret) : null;
    }
    if (next.shopify) this.shopify = { ...next.shopify };
  }
}
