// Test and live data are apart: data made with the test key is invisible to the
// live key and the other way round — in every list query (read from the schema,
// so a new one cannot be forgotten), in every node by ID, and in the lookups by
// email or external ID, even for a subscriber with the same email in both, and
// in the enrollmentChanged feed.
import { getNamedType, isListType, isNonNullType, isObjectType, type GraphQLField } from 'graphql';
import { createClient } from 'graphql-ws';
import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { encodeId, parseId } from '../../src/domain/public-id.js';
import { schema } from '../../src/graphql/schema.js';
import { shopifyCredentials, stripeSecretKey } from '../../src/integrations/discounts.js';
import { useTestApp, type GqlResult } from '../helpers/app.js';

const t = await useTestApp();

type Client = { key: string; workspaceId: string; gql: (query: string, variables?: Record<string, unknown>) => Promise<GqlResult> };

const EMAIL = 'same@both.test';

/** One row of every node type, made through `client` (the message as the engine records it). */
async function populate(client: Client, label: string) {
  const res = await client.gql(`mutation {
    l: createList(name: "${label} list") { id }
    s: upsertSubscriber(input: { email: "${EMAIL}", externalId: "ext-1", tags: ["vip"] }) { subscriber { id } errors { code } }
    q: createSequence(input: { name: "${label} seq", trigger: MANUAL, steps: [{ subject: "Hi", blocks: [{ type: "text", text: "x" }] }] }) { sequence { id steps { id } } }
    g: createSegment(name: "${label} VIPs", definition: { match: "all", conditions: [{ tag: "vip" }] }) { id }
  }`);
  expect(res.errors).toBeUndefined();
  const sequence = res.data.q.sequence;
  await client.gql(`mutation($id: ID!) { enableSequence(id: $id) { errors { code } } }`, { id: sequence.id });
  const run = await client.gql(`mutation($s: ID!) { enrollSubscriber(input: { sequenceId: $s, subscriber: { email: "${EMAIL}" } }) { enrollment { id } errors { code } } }`, {
    s: sequence.id,
  });
  const event = await client.gql(`mutation { trackEvent(input: { email: "${EMAIL}", event: "seen" }) { event { id } errors { code } } }`);
  const uuid = (id: string) => parseId(id)!.uuid;
  const message = await t.prisma.message.create({
    data: {
      workspaceId: client.workspaceId,
      enrollmentId: uuid(run.data.enrollSubscriber.enrollment.id),
      stepId: uuid(sequence.steps[0].id),
      subscriberId: uuid(res.data.s.subscriber.id),
      to: EMAIL,
      subject: `${label} message`,
      html: '<p>x</p>',
      smtpMessageId: `<${label}@isolation.test>`,
    },
  });
  return {
    Sequence: sequence.id as string,
    Step: sequence.steps[0].id as string,
    Subscriber: res.data.s.subscriber.id as string,
    Enrollment: run.data.enrollSubscriber.enrollment.id as string,
    Event: event.data.trackEvent.event.id as string,
    List: res.data.l.id as string,
    Segment: res.data.g.id as string,
    Message: encodeId('Message', message.id),
  };
}

const live = await t.workspace('Isolated');
const test = await t.testWorkspace(live);
const sides = [
  { name: 'live', client: live as Client, ids: await populate(live, 'live') },
  { name: 'test', client: test as Client, ids: await populate(test, 'test') },
];

/** Query fields that list rows and need no argument: plain lists and connections. */
function listQueries(): GraphQLField<unknown, unknown>[] {
  return Object.values(schema.getQueryType()!.getFields()).filter((f) => {
    if (f.args.some((a) => isNonNullType(a.type))) return false;
    const inner = isNonNullType(f.type) ? f.type.ofType : f.type;
    return isListType(inner) || getNamedType(f.type).name.endsWith('Connection');
  });
}

/** Every row of a list query, with the IDs of the nodes inside each row one level down. */
function listDocument(field: GraphQLField<unknown, unknown>): string {
  const named = getNamedType(field.type);
  if (!isObjectType(named)) throw new Error(`${field.name}: not a list of objects`);
  const rowType = named.name.endsWith('Connection') ? getNamedType(named.getFields().edges!.type) : named;
  const node = isObjectType(rowType) && rowType.getFields().node ? getNamedType(rowType.getFields().node!.type) : rowType;
  if (!isObjectType(node)) throw new Error(`${field.name}: rows are not objects`);
  const nested = Object.values(node.getFields())
    .filter((f) => !f.args.some((a) => isNonNullType(a.type)) && isObjectType(getNamedType(f.type)) && 'id' in (getNamedType(f.type) as never as { getFields(): object }).getFields())
    .map((f) => `${f.name} { id }`);
  const row = `id ${nested.join(' ')}`;
  if (named.name.endsWith('Connection')) {
    const first = field.args.some((a) => a.name === 'first') ? '(first: 100)' : '';
    return `{ result: ${field.name}${first} { totalCount edges { node { ${row} } } } }`;
  }
  return `{ result: ${field.name} { ${row} } }`;
}

const idsIn = (data: unknown) => [...JSON.stringify(data).matchAll(/"id":"([^"]+)"/g)].map((m) => m[1]!);

describe.each([
  { reader: 0, other: 1 },
  { reader: 1, other: 0 },
])('test and live isolation', ({ reader: r, other: o }) => {
  const reader = sides[r]!;
  const other = sides[o]!;
  const otherIds = Object.values(other.ids);

  it(`every list query with the ${reader.name} key shows its own rows and none of the ${other.name} ones`, async () => {
    const fields = listQueries();
    expect(fields.map((f) => f.name)).toEqual(expect.arrayContaining(['lists', 'messages', 'segments', 'sequences', 'subscribers']));
    for (const field of fields) {
      const res = await reader.client.gql(listDocument(field));
      expect(res.errors, field.name).toBeUndefined();
      const ids = idsIn(res.data);
      expect(ids.filter((id) => otherIds.includes(id)), field.name).toEqual([]);
      // The reader sees its own row, so the empty intersection above is the scope, not an empty answer.
      expect(ids.some((id) => Object.values(reader.ids).includes(id)), field.name).toBe(true);
      if (res.data.result.totalCount !== undefined) expect(res.data.result.totalCount, field.name).toBe(res.data.result.edges.length);
    }
  });

  it(`every ${other.name} node by ID is null with the ${reader.name} key (node, nodes, typed lookups)`, async () => {
    for (const [type, id] of Object.entries(other.ids)) {
      const one = await reader.client.gql(`query($id: ID!) { node(id: $id) { id } }`, { id });
      expect({ type, one }).toEqual({ type, one: { data: { node: null } } });
      const own = await other.client.gql(`query($id: ID!) { node(id: $id) { __typename id } }`, { id });
      expect(own.data.node).toEqual({ __typename: type, id });
    }
    const many = await reader.client.gql(`query($ids: [ID!]!) { nodes(ids: $ids) { id } }`, { ids: otherIds });
    expect(many.data.nodes).toEqual(otherIds.map(() => null));
    const typed = await reader.client.gql(`query($s: ID!, $e: ID!, $p: ID!) { sequence(id: $s) { id } enrollment(id: $e) { id } subscriber(id: $p) { id } }`, {
      s: other.ids.Sequence,
      e: other.ids.Enrollment,
      p: other.ids.Subscriber,
    });
    expect(typed).toEqual({ data: { sequence: null, enrollment: null, subscriber: null } });
    const preview = await reader.client.gql(`query($s: ID!) { previewSequence(sequenceId: $s, email: "${EMAIL}") { subject } }`, { s: other.ids.Sequence });
    expect(preview.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
  });

  it(`the same email and external ID name the ${reader.name} subscriber only`, async () => {
    const res = await reader.client.gql(`{ a: subscriber(email: "${EMAIL}") { id } b: subscriber(externalId: "ext-1") { id } }`);
    expect(res).toEqual({ data: { a: { id: reader.ids.Subscriber }, b: { id: reader.ids.Subscriber } } });
    expect(reader.ids.Subscriber).not.toBe(other.ids.Subscriber);
    const messages = await reader.client.gql(`{ messages(to: "${EMAIL}") { totalCount edges { node { id subject } } } }`);
    expect(messages.data.messages).toEqual({ totalCount: 1, edges: [{ node: { id: reader.ids.Message, subject: `${reader.name} message` } }] });
  });
});

describe('change feed', () => {
  it('enrollmentChanged replays and pushes only the subscribing key\'s own mode, both ways', async () => {
    const port = await t.app.start(0);
    const enroll = async (side: (typeof sides)[number], email: string) => {
      const res = await side.client.gql(`mutation($s: ID!) { enrollSubscriber(input: { sequenceId: $s, subscriber: { email: "${email}" } }) { enrollment { id } errors { code } } }`, {
        s: side.ids.Sequence,
      });
      return res.data.enrollSubscriber.enrollment.id as string;
    };
    // Each side's last change comes after a change of the other side: had the feed leaked, it would show.
    await enroll(sides[0]!, 'feed-1@both.test');
    const testLast = await enroll(sides[1]!, 'feed-2@both.test');
    const liveLast = await enroll(sides[0]!, 'feed-3@both.test');
    for (const [side, last] of [[sides[0]!, liveLast], [sides[1]!, testLast]] as const) {
      const client = createClient({ url: `ws://127.0.0.1:${port}/graphql`, webSocketImpl: WebSocket, connectionParams: { Authorization: `Bearer ${side.client.key}` }, retryAttempts: 0 });
      const seen: string[] = [];
      await new Promise<void>((resolve, reject) => {
        const stop = client.subscribe(
          { query: `subscription { enrollmentChanged(after: "0") { enrollment { id } } }` },
          {
            next: (result) => {
              if (result.errors) return reject(new Error(JSON.stringify(result.errors)));
              seen.push((result.data as { enrollmentChanged: { enrollment: { id: string } } }).enrollmentChanged.enrollment.id);
              if (seen.includes(last)) {
                stop();
                resolve();
              }
            },
            error: reject,
            complete: () => resolve(),
          },
        );
      });
      await client.dispose();
      const own = (await t.prisma.enrollment.findMany({ where: { workspaceId: side.client.workspaceId }, select: { id: true } })).map((e) => encodeId('Enrollment', e.id));
      expect(seen.length).toBeGreaterThanOrEqual(2);
      expect(seen.filter((id) => !own.includes(id))).toEqual([]);
    }
  });
});

describe('integrations', () => {
  it("the live workspace's Stripe and Shopify connections are not the twin's until connected in it", async () => {
    t.runtime.integrations.configure({ stripe: { secret: 'stepwise-test-secret-0123456789', host: '127.0.0.1', port: 9, protocol: 'http' } });
    const connect = `mutation($k: String!) {
      s: connectStripe(secretKey: $k) { connected errors { code } }
      p: connectShopify(shopDomain: "live.myshopify.com", accessToken: "shpat_0123456789abcdef0123456789abcdef") { connected errors { code } }
    }`;
    const res = await live.gql(connect, { k: 'sk_test_51StepwiseLiveKey0123456789abcdef' });
    expect(res.data).toEqual({ s: { connected: true, errors: [] }, p: { connected: true, errors: [] } });
    // What a discount step of the twin would use: nothing.
    await expect(stripeSecretKey(t.prisma, t.runtime.integrations.secrets, test.workspaceId)).rejects.toThrow('Stripe is not connected');
    await expect(shopifyCredentials(t.prisma, t.runtime.integrations.secrets, test.workspaceId)).rejects.toThrow('Shopify is not connected');
    expect(await stripeSecretKey(t.prisma, t.runtime.integrations.secrets, live.workspaceId)).toBe('sk_test_51StepwiseLiveKey0123456789abcdef');

    const own = await test.gql(connect, { k: 'sk_test_51StepwiseTwinKey0123456789abcdef' });
    expect(own.data).toEqual({ s: { connected: true, errors: [] }, p: { connected: true, errors: [] } });
    expect(await stripeSecretKey(t.prisma, t.runtime.integrations.secrets, test.workspaceId)).toBe('sk_test_51StepwiseTwinKey0123456789abcdef');
    expect(await stripeSecretKey(t.prisma, t.runtime.integrations.secrets, live.workspaceId)).toBe('sk_test_51StepwiseLiveKey0123456789abcdef');
    t.runtime.integrations.configure({ stripe: { host: 'api.stripe.com', port: 443, protocol: 'https' } });
  });
});
