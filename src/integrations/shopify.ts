// Shopify discount codes through Shopify's official Admin API client
// (@shopify/admin-api-client) and the Admin GraphQL API: `discountCodeBasicCreate`
// with the step's terms, limited to the subscriber's Shopify customer (looked up by
// email, created when missing) when the code is locked to them.
//
// Retries are idempotent: the code is derived from run and step, and every attempt
// first asks Shopify for a discount with that code (`codeDiscountNodeByCode`), so a
// retry after a timeout or a crash finds the first attempt's discount instead of
// creating a second one.
//
// The client always builds https://<shop>/admin/api/<version>/graphql.json; its
// `customFetchApi` hook lets SHOPIFY_API_URL send those requests elsewhere (a local
// Shopify-speaking server in tests) without changing the documents or headers.
import { createAdminApiClient } from '@shopify/admin-api-client';
import type { DiscountTerms } from '../domain/sequence-input.js';

export interface ShopifySettings {
  /** e.g. http://127.0.0.1:4010: replaces https://<shop> in every request. Unset: Shopify itself. */
  apiUrl?: string;
  apiVersion: string;
}

export const DEFAULT_SHOPIFY_API_VERSION = '2026-10';

/** `name.myshopify.com`: the shop's permanent domain (custom domains do not serve the Admin API). */
export const SHOPIFY_DOMAIN_PATTERN = /^[a-z0-9][a-z0-9-]{0,59}\.myshopify\.com$/;
/** Admin API access tokens: shpat_ (custom apps), shpca_/shpua_ (app installs). */
export const SHOPIFY_TOKEN_PATTERN = /^shp(at|ca|ua|ss)_[A-Za-z0-9]{16,128}$/;

/** Shopify refused the request (userErrors, or an error retrying cannot fix). */
export class ShopifyRefusal extends Error {}
/** Worth trying again later: the network, throttling (429), Shopify's own faults (5xx). */
export class ShopifyUnavailable extends Error {}

function client(settings: ShopifySettings, shopDomain: string, accessToken: string) {
  const override = settings.apiUrl?.replace(/\/+$/, '');
  return createAdminApiClient({
    storeDomain: shopDomain,
    apiVersion: settings.apiVersion,
    accessToken,
    userAgentPrefix: 'Stepwise',
    // pg-boss retries the whole step with backoff; the client does not retry on its own.
    retries: 0,
    customFetchApi: (url, init) => {
      const target = override ? url.replace(/^https:\/\/[^/]+/, override) : url;
      // The step holds its run's row lock meanwhile: do not wait for ever.
      return fetch(target, { ...init, signal: AbortSignal.timeout(10_000) } as RequestInit);
    },
  });
}

export const CUSTOMER_BY_EMAIL = `query StepwiseCustomerByEmail($query: String!) {
  customers(first: 1, query: $query) { nodes { id } }
}`;

export const CUSTOMER_CREATE = `mutation StepwiseCustomerCreate($input: CustomerInput!) {
  customerCreate(input: $input) { customer { id } userErrors { field message } }
}`;

export const DISCOUNT_BY_CODE = `query StepwiseDiscountByCode($code: String!) {
  codeDiscountNodeByCode(code: $code) { id }
}`;

export const DISCOUNT_CREATE = `mutation StepwiseDiscountCreate($basicCodeDiscount: DiscountCodeBasicInput!) {
  discountCodeBasicCreate(basicCodeDiscount: $basicCodeDiscount) {
    codeDiscountNode { id }
    userErrors { field code message }
  }
}`;

type Client = ReturnType<typeof client>;

/** Runs one document; turns HTTP and GraphQL failures into ShopifyUnavailable or ShopifyRefusal. */
async function call<T>(shop: Client, document: string, variables: Record<string, unknown>): Promise<T> {
  let result;
  try {
    result = await shop.request<T>(document, { variables });
  } catch (error) {
    throw new ShopifyUnavailable(`Shopify: ${error instanceof Error ? error.message : String(error)}`);
  }
  const { data, errors } = result;
  if (errors) {
    const status = errors.networkStatusCode;
    const throttled = errors.graphQLErrors?.some((e) => (e as { extensions?: { code?: string } }).extensions?.code === 'THROTTLED');
    const detail = [status, errors.message].filter(Boolean).join(' ');
    if (status === undefined || status === 429 || status >= 500 || throttled) throw new ShopifyUnavailable(`Shopify (${detail})`);
    throw new ShopifyRefusal(`Shopify refused the request (${detail})`);
  }
  if (!data) throw new ShopifyUnavailable('Shopify answered without data');
  return data;
}

function refuseOnUserErrors(what: string, userErrors: { field?: string[] | null; message: string }[]) {
  if (!userErrors.length) return;
  const listed = userErrors.map((e) => (e.field?.length ? `${e.field.join('.')}: ${e.message}` : e.message)).join('; ');
  throw new ShopifyRefusal(`Shopify refused ${what}: ${listed}`);
}

export interface ShopifyDiscountRequest {
  shopDomain: string;
  accessToken: string;
  /** Derived from run and step: the same on every attempt. */
  code: string;
  title: string;
  terms: DiscountTerms;
  startsAt: Date;
  expiresAt: Date | null;
  /** The subscriber the code is locked to (lockToSubscriber), or null for everyone. */
  customer: { email: string; firstName: string | null; lastName: string | null } | null;
}

export interface ShopifyDiscount {
  /** gid://shopify/DiscountCodeNode/… */
  discountId: string;
  customerId: string | null;
  /** True when an earlier attempt had already created it. */
  existed: boolean;
}

export async function createShopifyDiscount(settings: ShopifySettings, request: ShopifyDiscountRequest): Promise<ShopifyDiscount> {
  const shop = client(settings, request.shopDomain, request.accessToken);
  const customerId = request.customer ? await findOrCreateCustomer(shop, request.customer) : null;

  const found = await call<{ codeDiscountNodeByCode: { id: string } | null }>(shop, DISCOUNT_BY_CODE, { code: request.code });
  if (found.codeDiscountNodeByCode) return { discountId: found.codeDiscountNodeByCode.id, customerId, existed: true };

  const { terms } = request;
  const created = await call<{
    discountCodeBasicCreate: { codeDiscountNode: { id: string } | null; userErrors: { field: string[] | null; code: string | null; message: string }[] };
  }>(shop, DISCOUNT_CREATE, {
    basicCodeDiscount: {
      title: request.title,
      code: request.code,
      startsAt: request.startsAt.toISOString(),
      endsAt: request.expiresAt?.toISOString() ?? null,
      context: customerId ? { customers: { add: [customerId] } } : { all: 'ALL' },
      customerGets: {
        value:
          terms.discountType === 'percent'
            ? { percentage: terms.percentOff! / 100 }
            : // Our amounts are in minor units (cents); Shopify takes a decimal in the shop's currency.
              { discountAmount: { amount: (terms.amountOff! / 100).toFixed(2), appliesOnEachItem: false } },
        items: { all: true },
      },
      usageLimit: terms.maxRedemptions ?? null,
      appliesOncePerCustomer: Boolean(customerId),
    },
  });
  const { codeDiscountNode, userErrors } = created.discountCodeBasicCreate;
  refuseOnUserErrors('the discount', userErrors);
  if (!codeDiscountNode) throw new ShopifyUnavailable('Shopify created no discount and gave no reason');
  return { discountId: codeDiscountNode.id, customerId, existed: false };
}

async function findOrCreateCustomer(
  shop: Client,
  customer: { email: string; firstName: string | null; lastName: string | null },
): Promise<string> {
  // Shopify's search syntax: quote the value so dots and pluses are taken literally.
  const query = `email:"${customer.email.replace(/["\\]/g, '')}"`;
  const found = await call<{ customers: { nodes: { id: string }[] } }>(shop, CUSTOMER_BY_EMAIL, { query });
  if (found.customers.nodes[0]) return found.customers.nodes[0].id;
  const created = await call<{
    customerCreate: { customer: { id: string } | null; userErrors: { field: string[] | null; message: string }[] };
  }>(shop, CUSTOMER_CREATE, {
    input: {
      email: customer.email,
      ...(customer.firstName ? { firstName: customer.firstName } : {}),
      ...(customer.lastName ? { lastName: customer.lastName } : {}),
    },
  });
  refuseOnUserErrors('the customer', created.customerCreate.userErrors);
  if (!created.customerCreate.customer) throw new ShopifyUnavailable('Shopify created no customer and gave no reason');
  return created.customerCreate.customer.id;
}
