// A local server on 127.0.0.1 that speaks the part of Stripe's REST API the
// discount step uses: form-encoded POST /v1/coupons, /v1/promotion_codes and
// /v1/customers, GET /v1/customers?email=. It keeps the objects it creates,
// answers Stripe-shaped errors, replays a successful response for a repeated
// Idempotency-Key and refuses the key with other parameters (as Stripe does),
// and records every request for assertions.
import { once } from 'node:events';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RecordedRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  /** The form body, keys as sent (e.g. `applies_to[products][0]`). */
  form: Record<string, string>;
  headers: IncomingMessage['headers'];
  /** True when the answer was Stripe's stored answer for the Idempotency-Key. */
  replayed: boolean;
}

export interface StripeErrorReply {
  status: number;
  type?: string;
  message: string;
  code?: string;
  param?: string;
}

type StripeObject = Record<string, unknown> & { id: string };

export async function startStripeServer(options: { acceptKeys?: string[] } = {}) {
  const requests: RecordedRequest[] = [];
  const coupons: StripeObject[] = [];
  const promotionCodes: StripeObject[] = [];
  const customers: StripeObject[] = [];
  const idempotent = new Map<string, { path: string; form: string; status: number; body: unknown }>();
  const failures = new Map<string, StripeErrorReply[]>();
  let counter = 0;
  const nextId = (prefix: string) => `${prefix}_test${String(++counter).padStart(6, '0')}`;
  const created = () => Math.floor(Date.now() / 1000);

  function error(res: ServerResponse, reply: StripeErrorReply) {
    send(res, reply.status, {
      error: {
        type: reply.type ?? 'invalid_request_error',
        message: reply.message,
        ...(reply.code ? { code: reply.code } : {}),
        ...(reply.param ? { param: reply.param } : {}),
      },
    });
  }

  function send(res: ServerResponse, status: number, body: unknown) {
    res.writeHead(status, { 'content-type': 'application/json', 'request-id': `req_${++counter}` });
    res.end(JSON.stringify(body));
  }

  const int = (v: string | undefined) => (v === undefined ? null : Number.parseInt(v, 10));
  const indexed = (form: Record<string, string>, prefix: string) =>
    Object.keys(form)
      .filter((k) => k.startsWith(`${prefix}[`))
      .sort((a, b) => Number(/\[(\d+)\]$/.exec(a)?.[1]) - Number(/\[(\d+)\]$/.exec(b)?.[1]))
      .map((k) => form[k]!);
  const metadata = (form: Record<string, string>) =>
    Object.fromEntries(
      Object.entries(form)
        .filter(([k]) => k.startsWith('metadata['))
        .map(([k, v]) => [k.slice('metadata['.length, -1), v]),
    );

  /** Handles one request the way Stripe would; returns [status, body] or answers an error itself. */
  function handle(req: RecordedRequest, res: ServerResponse): [number, unknown] | null {
    const { form } = req;
    if (req.method === 'GET' && req.path === '/v1/customers') {
      const data = customers.filter((c) => !req.query.email || c.email === req.query.email).reverse();
      const limit = int(req.query.limit) ?? 10;
      return [200, { object: 'list', url: '/v1/customers', has_more: data.length > limit, data: data.slice(0, limit) }];
    }
    if (req.method !== 'POST') {
      error(res, { status: 404, message: `Unrecognized request URL (${req.method}: ${req.path})` });
      return null;
    }
    if (req.path === '/v1/customers') {
      const customer = { id: nextId('cus'), object: 'customer', created: created(), email: form.email ?? null, name: form.name ?? null, metadata: metadata(form) };
      customers.push(customer);
      return [200, customer];
    }
    if (req.path === '/v1/coupons') {
      if ((form.percent_off === undefined) === (form.amount_off === undefined)) {
        error(res, { status: 400, message: 'You must pass exactly one of percent_off or amount_off', param: 'percent_off' });
        return null;
      }
      if (form.amount_off !== undefined && !form.currency) {
        error(res, { status: 400, message: 'You must pass currency when passing amount_off', param: 'currency' });
        return null;
      }
      if (form.duration === 'repeating' && !form.duration_in_months) {
        error(res, { status: 400, message: 'duration_in_months is required when duration is repeating', param: 'duration_in_months' });
        return null;
      }
      const products = indexed(form, 'applies_to[products]');
      const coupon = {
        id: nextId('coupon'),
        object: 'coupon',
        created: created(),
        percent_off: form.percent_off === undefined ? null : Number(form.percent_off),
        amount_off: int(form.amount_off),
        currency: form.currency ?? null,
        duration: form.duration ?? 'once',
        duration_in_months: int(form.duration_in_months),
        max_redemptions: int(form.max_redemptions),
        name: form.name ?? null,
        ...(products.length ? { applies_to: { products } } : {}),
        metadata: metadata(form),
        valid: true,
        times_redeemed: 0,
      };
      coupons.push(coupon);
      return [200, coupon];
    }
    if (req.path === '/v1/promotion_codes') {
      const coupon = coupons.find((c) => c.id === form['promotion[coupon]']);
      if (form['promotion[type]'] !== 'coupon' || !coupon) {
        error(res, { status: 400, code: 'resource_missing', message: `No such coupon: '${form['promotion[coupon]'] ?? ''}'`, param: 'promotion[coupon]' });
        return null;
      }
      if (form.customer && !customers.some((c) => c.id === form.customer)) {
        error(res, { status: 400, code: 'resource_missing', message: `No such customer: '${form.customer}'`, param: 'customer' });
        return null;
      }
      if (form.code && !/^[A-Za-z0-9-]{1,500}$/.test(form.code)) {
        error(res, { status: 400, message: 'Invalid code: only letters, digits and dashes', param: 'code' });
        return null;
      }
      const code = form.code ?? nextId('CODE').toUpperCase();
      if (promotionCodes.some((p) => String(p.code).toLowerCase() === code.toLowerCase())) {
        error(res, { status: 400, code: 'duplicate', message: 'An active promotion code with `code` already exists', param: 'code' });
        return null;
      }
      const promotionCode = {
        id: nextId('promo'),
        object: 'promotion_code',
        created: created(),
        active: true,
        code,
        customer: form.customer ?? null,
        expires_at: int(form.expires_at),
        max_redemptions: int(form.max_redemptions),
        promotion: { type: 'coupon', coupon: coupon.id },
        metadata: metadata(form),
        times_redeemed: 0,
      };
      promotionCodes.push(promotionCode);
      return [200, promotionCode];
    }
    error(res, { status: 404, message: `Unrecognized request URL (POST: ${req.path})` });
    return null;
  }

  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const recorded: RecordedRequest = {
      method: req.method ?? 'GET',
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      form: Object.fromEntries(new URLSearchParams(Buffer.concat(chunks).toString('utf8'))),
      headers: req.headers,
      replayed: false,
    };
    requests.push(recorded);

    const auth = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    if (!auth || (options.acceptKeys && !options.acceptKeys.includes(auth))) {
      const masked = auth ? `${auth.slice(0, 8)}${'*'.repeat(8)}${auth.slice(-4)}` : '';
      error(res, { status: 401, message: `Invalid API Key provided: ${masked}` });
      return;
    }
    const key = req.method === 'POST' ? req.headers['idempotency-key'] : undefined;
    const stored = typeof key === 'string' ? idempotent.get(key) : undefined;
    if (stored && (stored.path !== recorded.path || stored.form !== JSON.stringify(recorded.form))) {
      error(res, {
        status: 400,
        type: 'idempotency_error',
        message: `Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '${String(key)}' if you meant to execute a different request.`,
      });
      return;
    }
    if (stored) {
      recorded.replayed = true;
      res.setHeader('idempotent-replayed', 'true');
      send(res, stored.status, stored.body);
      return;
    }
    const failure = failures.get(recorded.path)?.shift();
    if (failure) {
      // Like Stripe's rate limiting and validation errors, a failure is not stored for the key.
      error(res, failure);
      return;
    }
    const answer = handle(recorded, res);
    if (!answer) return;
    if (typeof key === 'string') {
      idempotent.set(key, { path: recorded.path, form: JSON.stringify(recorded.form), status: answer[0], body: answer[1] });
    }
    send(res, answer[0], answer[1]);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;

  return {
    port,
    requests,
    coupons,
    promotionCodes,
    customers,
    /** The next request to `path` gets this error instead (queued, one per call). */
    failNext(path: string, reply: StripeErrorReply) {
      failures.set(path, [...(failures.get(path) ?? []), reply]);
    },
    /** A customer that already exists in the account. */
    addCustomer(email: string): string {
      const customer = { id: nextId('cus'), object: 'customer', created: created(), email, name: null, metadata: {} };
      customers.push(customer);
      return customer.id;
    },
    /** Requests received since `from` (an index into `requests`). */
    since(from: number) {
      return requests.slice(from);
    },
    async close() {
      server.closeAllConnections();
      server.close();
      await once(server, 'close').catch(() => {});
    },
  };
}

export type StripeServer = Awaited<ReturnType<typeof startStripeServer>>;
