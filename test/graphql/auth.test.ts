import { describe, expect, it } from 'vitest';
import { useTestApp } from '../helpers/app.js';

const t = await useTestApp();

describe('authentication', () => {
  it('answers 401 without a key or with a wrong one', async () => {
    const none = await t.request({ query: '{ sequences { totalCount } }' });
    expect(none.status).toBe(401);
    expect((await none.json()).errors[0]).toMatchObject({
      message: 'Missing API key: send the header Authorization: Bearer <key>',
      extensions: { code: 'UNAUTHENTICATED' },
    });
    const wrong = await t.request({ query: '{ sequences { totalCount } }' }, { authorization: 'Bearer sk_wrong' });
    expect(wrong.status).toBe(401);
    expect((await wrong.json()).errors[0].message).toBe('Invalid API key');
    const notBearer = await t.request({ query: '{ sequences { totalCount } }' }, { authorization: 'Basic abc' });
    expect(notBearer.status).toBe(401);
  });

  it('stores keys hashed, never in clear', async () => {
    const ws = await t.workspace('hashed');
    const rows = await t.prisma.apiKey.findMany({ where: { workspaceId: ws.workspaceId } });
    expect(rows).toHaveLength(1);
    expect(JSON.stringify(rows)).not.toContain(ws.key);
  });
});

describe('tenant isolation', () => {
  it('never shows or touches another workspace’s rows', async () => {
    const a = await t.workspace('A');
    const b = await t.workspace('B');
    const seq = await a.gql(`mutation { createSequence(input: { name: "A only", trigger: MANUAL, steps: [{ subject: "x", blocks: [{ type: "divider" }] }] }) { sequence { id steps { id } } } }`);
    const seqId = seq.data.createSequence.sequence.id;
    const stepId = seq.data.createSequence.sequence.steps[0].id;
    const sub = await a.gql(`mutation { upsertSubscriber(input: { email: "only-a@example.com" }) { subscriber { id } } }`);
    const subId = sub.data.upsertSubscriber.subscriber.id;
    await a.gql(`mutation { createList(name: "A list") { id } }`);

    const seen = await b.gql(`query($s: ID!, $st: ID!, $sub: ID!) {
      sequence(id: $s) { id } step: node(id: $st) { id } seqNode: node(id: $s) { id } subscriber(id: $sub) { id }
      byEmail: subscriber(email: "only-a@example.com") { id }
      sequences { totalCount } subscribers { totalCount } lists { id } segments { id } messages { totalCount }
    }`, { s: seqId, st: stepId, sub: subId });
    expect(seen.errors).toBeUndefined();
    expect(seen.data).toEqual({
      sequence: null, step: null, seqNode: null, subscriber: null, byEmail: null,
      sequences: { totalCount: 0 }, subscribers: { totalCount: 0 }, lists: [], segments: [], messages: { totalCount: 0 },
    });
    const touch = await b.gql(`mutation($s: ID!, $sub: ID!) {
      enableSequence(id: $s) { errors { code } } updateSequence(id: $s, input: { name: "hijack" }) { errors { code } }
      addTag(subscriberId: $sub, tag: "x") { errors { code } } unsubscribe(subscriberId: $sub) { errors { code } }
    }`, { s: seqId, sub: subId });
    expect(touch.data).toEqual({
      enableSequence: { errors: [{ code: 'NOT_FOUND' }] },
      updateSequence: { errors: [{ code: 'NOT_FOUND' }] },
      addTag: { errors: [{ code: 'NOT_FOUND' }] },
      unsubscribe: { errors: [{ code: 'NOT_FOUND' }] },
    });
    const still = await a.gql(`query($s: ID!) { sequence(id: $s) { name status } }`, { s: seqId });
    expect(still.data.sequence).toEqual({ name: 'A only', status: 'DRAFT' });
    // Upserting the same email in B makes B's own subscriber, not A's.
    const own = await b.gql(`mutation { upsertSubscriber(input: { email: "only-a@example.com" }) { subscriber { id } } }`);
    expect(own.data.upsertSubscriber.subscriber.id).not.toBe(subId);
  });
});

describe('malformed requests', () => {
  it('answers malformed JSON with a clear 400', async () => {
    const ws = await t.workspace('json');
    const res = await t.request('{"query": "{ sequences { totalCount } ', { authorization: `Bearer ${ws.key}` });
    expect(res.status).toBe(400);
    expect((await res.json()).errors[0].message).toMatch(/JSON/i);
  });

  it('names unknown fields and wrong argument types', async () => {
    const ws = await t.workspace('fields');
    const unknownField = await ws.gql(`{ sequences { totalCount bogus } }`);
    expect(unknownField.errors?.[0]?.message).toContain('Cannot query field "bogus" on type "SequenceConnection".');
    const unknownInput = await ws.gql(`mutation { createSequence(input: { name: "x", trigger: MANUAL, colour: "red" }) { errors { code } } }`);
    expect(unknownInput.errors?.[0]?.message).toContain('Field "colour" is not defined by type "CreateSequenceInput"');
    const badEnum = await ws.gql(`mutation { createSequence(input: { name: "x", trigger: SOMETIMES }) { errors { code } } }`);
    expect(badEnum.errors?.[0]?.message).toContain('Value "SOMETIMES" does not exist in "TriggerType" enum');
  });

  it('masks unexpected errors', async () => {
    const ws = await t.workspace('mask');
    const res = await ws.gql(`{ sequence(id: "seq_zz") { id } }`);
    expect(res.errors?.[0]).toMatchObject({ extensions: { code: 'INVALID_ID', field: ['id'] } });
  });
});
