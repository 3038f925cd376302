// A local server on 127.0.0.1 that speaks the part of Shopify's Admin GraphQL API
// the discount step uses: POST /admin/api/<version>/graphql.json with the
// customers(query:), customerCreate, codeDiscountNodeByCode and
// discountCodeBasicCreate operations. It checks the access token, keeps what it
// creates, answers userErrors the way Shopify does (a code already taken), can be
// told to fail the next call of an operation (an HTTP status or userErrors), and
// records every request for assertions.
import { once } from 'node:events';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ShopifyRequest {
  path: string;
  operation: string;
  variables: Record<string, any>;
  headers: IncomingMessage['headers'];
}

/** `status`: answer that HTTP status instead; with `afterApplying`, after doing the work (the answer is lost). */
export type ShopifyFailure =
  | { status: number; afterApplying?: boolean }
  | { userErrors: { field: string[] | null; code?: string; message: string }[] };

const OPERATION = /^\s*(?:query|mutation)\s+(\w+)/;

export async function startShopifyServer(options: { accessToken: string }) {
  const requests: ShopifyRequest[] = [];
  const customers: { id: string; email: string; firstName?: string; lastName?: string }[] = [];
  const discounts: { id: string; code: string; input: Record<string, any> }[] = [];
  const failures = new Map<string, ShopifyFailure[]>();
  let counter = 1000;

  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (req.method !== 'POST' || !/^\/admin\/api\/[\w-]+\/graphql\.json$/.test(req.url ?? '')) return send(404, { errors: 'Not Found' });
    if (req.headers['x-shopify-access-token'] !== options.accessToken) {
      return send(401, { errors: '[API] Invalid API key or access token (unrecognized login or wrong password)' });
    }
    const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { query: string; variables?: Record<string, any> };
    const operation = OPERATION.exec(body.query)?.[1] ?? 'anonymous';
    const variables = body.variables ?? {};
    requests.push({ path: req.url!, operation, variables, headers: req.headers });

    const failure = failures.get(operation)?.shift();
    if (failure && 'status' in failure && !failure.afterApplying) return send(failure.status, { errors: 'Internal Server Error' });
    const lost = failure && 'status' in failure ? failure.status : null;

    switch (operation) {
      case 'StepwiseCustomerByEmail': {
        const email = /^email:"(.*)"$/.exec(variables.query)?.[1];
        return send(200, { data: { customers: { nodes: customers.filter((c) => c.email === email).slice(0, 1).map(({ id }) => ({ id })) } } });
      }
      case 'StepwiseCustomerCreate': {
        const userErrors = failure && 'userErrors' in failure ? failure.userErrors : [];
        if (userErrors.length) return send(200, { data: { customerCreate: { customer: null, userErrors } } });
        const customer = { id: `gid://shopify/Customer/${++counter}`, ...variables.input };
        customers.push(customer);
        return send(200, { data: { customerCreate: { customer: { id: customer.id }, userErrors: [] } } });
      }
      case 'StepwiseDiscountByCode': {
        const found = discounts.find((d) => d.code.toLowerCase() === String(variables.code).toLowerCase());
        return send(200, { data: { codeDiscountNodeByCode: found ? { id: found.id } : null } });
      }
      case 'StepwiseDiscountCreate': {
        const input = variables.basicCodeDiscount;
        let userErrors = failure && 'userErrors' in failure ? failure.userErrors : [];
        if (!userErrors.length && discounts.some((d) => d.code === input.code)) {
          userErrors = [{ field: ['basicCodeDiscount', 'code'], code: 'TAKEN', message: 'Code must be unique. Please try a different code.' }];
        }
        if (userErrors.length) return send(200, { data: { discountCodeBasicCreate: { codeDiscountNode: null, userErrors } } });
        const discount = { id: `gid://shopify/DiscountCodeNode/${++counter}`, code: input.code, input };
        discounts.push(discount);
        if (lost) return send(lost, { errors: 'Gateway Timeout' });
        return send(200, { data: { discountCodeBasicCreate: { codeDiscountNode: { id: discount.id }, userErrors: [] } } });
      }
      default:
        return send(200, { errors: [{ message: `Field '${operation}' doesn't exist`, extensions: { code: 'undefinedField' } }] });
    }
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    customers,
    discounts,
    /** The next call of `operation` fails this way (queued: several calls fail in turn). */
    failNext(operation: string, failure: ShopifyFailure) {
      failures.set(operation, [...(failures.get(operation) ?? []), failure]);
    },
    async close() {
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
    },
  };
}
