import { beforeAll, describe, expect, it } from 'vitest';
import { useTestApp } from '../helpers/app.js';

const t = await useTestApp();
let ws: Awaited<ReturnType<typeof t.workspace>>;

const SUB = `id email firstName lastName attributes tags status lists { id name subscriberCount }`;
const UPSERT = `mutation($input: SubscriberInput!) { upsertSubscriber(input: $input) { subscriber { ${SUB} } errors { field message code } } }`;

beforeAll(async () => {
  ws = await t.workspace();
});

describe('subscribers', () => {
  it('upserts by normalised, case-insensitive email and merges attributes', async () => {
    const first = await ws.gql(UPSERT, { input: { email: '  Ada@Example.COM ', firstName: 'Ada', attributes: { plan: 'free', city: 'London' }, tags: ['beta'] } });
    expect(first.data.upsertSubscriber.errors).toEqual([]);
    const sub = first.data.upsertSubscriber.subscriber;
    expect(sub).toMatchObject({ email: 'ada@example.com', firstName: 'Ada', tags: ['beta'], status: 'ACTIVE' });
    expect(sub.id).toMatch(/^sub_/);
    const second = await ws.gql(UPSERT, { input: { email: 'ADA@example.com', lastName: 'Lovelace', attributes: { plan: 'pro' }, tags: ['vip'] } });
    expect(second.data.upsertSubscriber.subscriber).toMatchObject({
      id: sub.id,
      firstName: 'Ada',
      lastName: 'Lovelace',
      attributes: { plan: 'pro', city: 'London' },
      tags: ['beta', 'vip'],
    });
    const byEmail = await ws.gql(`{ subscriber(email: "ada@EXAMPLE.com") { id } }`);
    expect(byEmail.data.subscriber.id).toBe(sub.id);
  });

  it('rejects malformed email, non-object attributes and unknown lists without writing', async () => {
    const before = await t.prisma.subscriber.count();
    const bad = await ws.gql(UPSERT, { input: { email: 'not-an-email', attributes: [1, 2] } });
    expect(bad.data.upsertSubscriber.subscriber).toBeNull();
    expect(bad.data.upsertSubscriber.errors).toEqual(
      expect.arrayContaining([
        { field: ['input', 'email'], message: 'email must be a valid email address', code: 'VALIDATION' },
        expect.objectContaining({ field: ['input', 'attributes'] }),
      ]),
    );
    const noList = await ws.gql(UPSERT, { input: { email: 'new@example.com', listIds: ['lst_00000000000000000000000000000000'] } });
    expect(noList.data.upsertSubscriber.errors).toEqual([{ field: ['input', 'listIds', '0'], message: 'List not found', code: 'NOT_FOUND' }]);
    expect(await t.prisma.subscriber.count()).toBe(before);
  });

  it('adds and removes tags, lists, and unsubscribes', async () => {
    const sub = (await ws.gql(UPSERT, { input: { email: 'grace@example.com' } })).data.upsertSubscriber.subscriber;
    const list = (await ws.gql(`mutation { createList(name: "Newsletter") { id name subscriberCount } }`)).data.createList;
    expect(list.subscriberCount).toBe(0);
    const tagged = await ws.gql(`mutation($id: ID!) { addTag(subscriberId: $id, tag: "customer") { subscriber { tags } errors { code } } }`, { id: sub.id });
    expect(tagged.data.addTag).toEqual({ subscriber: { tags: ['customer'] }, errors: [] });
    const added = await ws.gql(`mutation($id: ID!, $l: ID!) { addToList(subscriberId: $id, listId: $l) { subscriber { lists { name subscriberCount } } } }`, { id: sub.id, l: list.id });
    expect(added.data.addToList.subscriber.lists).toEqual([{ name: 'Newsletter', subscriberCount: 1 }]);
    const removed = await ws.gql(`mutation($id: ID!, $l: ID!) { removeFromList(subscriberId: $id, listId: $l) { subscriber { lists { name } } } }`, { id: sub.id, l: list.id });
    expect(removed.data.removeFromList.subscriber.lists).toEqual([]);
    const untagged = await ws.gql(`mutation($id: ID!) { removeTag(subscriberId: $id, tag: "customer") { subscriber { tags } } }`, { id: sub.id });
    expect(untagged.data.removeTag.subscriber.tags).toEqual([]);
    const unsub = await ws.gql(`mutation($id: ID!) { unsubscribe(subscriberId: $id) { subscriber { status } } }`, { id: sub.id });
    expect(unsub.data.unsubscribe.subscriber.status).toBe('UNSUBSCRIBED');
    const emptyTag = await ws.gql(`mutation($id: ID!) { addTag(subscriberId: $id, tag: "  ") { subscriber { id } errors { field code } } }`, { id: sub.id });
    expect(emptyTag.data.addTag).toEqual({ subscriber: null, errors: [{ field: ['tag'], code: 'VALIDATION' }] });
    const dup = await ws.gql(`mutation { createList(name: "Newsletter") { id } }`);
    expect(dup.errors?.[0]).toMatchObject({ message: 'A list named "Newsletter" already exists', extensions: { code: 'NAME_TAKEN', field: ['name'] } });
  });

  it('paginates and searches subscribers', async () => {
    const other = await t.workspace('many');
    for (let i = 0; i < 7; i++) await other.gql(UPSERT, { input: { email: `p${i}@example.com`, firstName: i === 3 ? 'Zed' : 'Pat' } });
    const first = await other.gql(`{ subscribers(first: 5) { totalCount edges { node { email } } pageInfo { hasNextPage endCursor } } }`);
    expect(first.data.subscribers.totalCount).toBe(7);
    expect(first.data.subscribers.edges).toHaveLength(5);
    const rest = await other.gql(`query($a: String) { subscribers(first: 5, after: $a) { edges { node { email } } pageInfo { hasNextPage } } }`, { a: first.data.subscribers.pageInfo.endCursor });
    expect(rest.data.subscribers.edges).toHaveLength(2);
    expect(rest.data.subscribers.pageInfo.hasNextPage).toBe(false);
    const zed = await other.gql(`{ subscribers(search: "zed") { totalCount edges { node { email } } } }`);
    expect(zed.data.subscribers).toEqual({ totalCount: 1, edges: [{ node: { email: 'p3@example.com' } }] });
  });
});

describe('segments', () => {
  it('validates the definition and counts matching subscribers, kept current on changes', async () => {
    const seg = await t.workspace('segments');
    await seg.gql(UPSERT, { input: { email: 'a@x.io', attributes: { plan: 'pro' } } });
    const b = (await seg.gql(UPSERT, { input: { email: 'b@x.io', attributes: { plan: 'free' } } })).data.upsertSubscriber.subscriber;
    const created = await seg.gql(`mutation($d: JSON!) { createSegment(name: "Pro", definition: $d) { id name definition subscriberCount } }`, {
      d: { match: 'any', conditions: [{ attribute: 'plan', op: 'eq', value: 'pro' }, { tag: 'vip' }] },
    });
    expect(created.data.createSegment).toMatchObject({ name: 'Pro', subscriberCount: 1 });
    expect(created.data.createSegment.id).toMatch(/^seg_/);
    await seg.gql(`mutation($id: ID!) { addTag(subscriberId: $id, tag: "vip") { errors { code } } }`, { id: b.id });
    const after = await seg.gql(`{ segments { name subscriberCount } }`);
    expect(after.data.segments).toEqual([{ name: 'Pro', subscriberCount: 2 }]);

    const bad = await seg.gql(`mutation($d: JSON!) { createSegment(name: "Bad", definition: $d) { id } }`, {
      d: { match: 'all', conditions: [{ attribute: 'plan', op: 'bogus' }] },
    });
    expect(bad.data).toBeNull();
    expect(bad.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: ['definition', 'conditions', '0', 'op'] });
  });
});
