// Concurrent requests that create or change the same thing, and hostile input
// sizes, through the GraphQL API: every call gets its row, a clear error, or a
// reply saying what its own transaction committed — never an internal error.
import { describe, expect, it } from 'vitest';
import { useTestApp, type GqlResult } from '../helpers/app.js';

const t = await useTestApp();

const UPSERT = `mutation($input: SubscriberInput!) {
  upsertSubscriber(input: $input) { subscriber { id email tags attributes } errors { field message code } }
}`;
const CREATE_SEQUENCE = `mutation($input: CreateSequenceInput!) {
  createSequence(input: $input) { sequence { id status } errors { code } }
}`;

/** No response carries a GraphQL error other than the expected user-facing codes. */
function expectNoInternalErrors(results: GqlResult[]) {
  for (const r of results) {
    for (const e of r.errors ?? []) expect(e.extensions?.code).not.toBe('INTERNAL_SERVER_ERROR');
  }
}

describe('racing creations', () => {
  it('20 parallel upserts with one new tag all succeed and share the one tag', async () => {
    const ws = await t.workspace('tag race');
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => ws.gql(UPSERT, { input: { email: `p${i}@race.test`, tags: ['launch'] } })),
    );
    expectNoInternalErrors(results);
    for (const r of results) {
      expect(r.errors).toBeUndefined();
      expect(r.data.upsertSubscriber.errors).toEqual([]);
      expect(r.data.upsertSubscriber.subscriber.tags).toEqual(['launch']);
    }
    expect(await t.prisma.tag.count({ where: { workspaceId: ws.workspaceId } })).toBe(1);
    expect(await t.prisma.subscriberTag.count({ where: { tag: { workspaceId: ws.workspaceId, name: 'launch' } } })).toBe(20);
  });

  it('parallel upserts of the same new email make one subscriber, merge every attribute and fire CONTACT_ADDED once', async () => {
    const ws = await t.workspace('email race');
    const created = await ws.gql(CREATE_SEQUENCE, {
      input: { name: 'Welcome', trigger: 'CONTACT_ADDED', steps: [{ subject: 'Hi', blocks: [{ type: 'text', text: 'Hi' }], delay: { days: 1 } }] },
    });
    const sequenceId = created.data.createSequence.sequence.id;
    const enabled = await ws.gql(`mutation($id: ID!) { enableSequence(id: $id) { errors { code } } }`, { id: sequenceId });
    expect(enabled.data.enableSequence.errors).toEqual([]);

    const results = await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        ws.gql(UPSERT, { input: { email: 'Same@Race.test', attributes: { [`k${i}`]: i }, tags: [`t${i % 3}`] } }),
      ),
    );
    expectNoInternalErrors(results);
    const ids = new Set(results.map((r) => r.data.upsertSubscriber.subscriber.id));
    expect(ids.size).toBe(1);
    const row = await t.prisma.subscriber.findFirstOrThrow({ where: { workspaceId: ws.workspaceId } });
    expect(row.email).toBe('same@race.test');
    expect(row.attributes).toEqual(Object.fromEntries(Array.from({ length: 12 }, (_, i) => [`k${i}`, i])));
    expect(await t.prisma.subscriber.count({ where: { workspaceId: ws.workspaceId } })).toBe(1);
    expect(await t.prisma.enrollment.count({ where: { workspaceId: ws.workspaceId } })).toBe(1);
  });

  it('10 parallel createList with one name: one list, nine NAME_TAKEN', async () => {
    const ws = await t.workspace('list race');
    const results = await Promise.all(
      Array.from({ length: 10 }, () => ws.gql(`mutation { createList(name: "VIP") { id name } }`)),
    );
    expectNoInternalErrors(results);
    const ok = results.filter((r) => r.data?.createList);
    const taken = results.filter((r) => r.errors?.[0]?.extensions?.code === 'NAME_TAKEN');
    expect(ok).toHaveLength(1);
    expect(taken).toHaveLength(9);
    expect(taken[0]!.errors![0]!.message).toBe('A list named "VIP" already exists');
    expect(await t.prisma.list.count({ where: { workspaceId: ws.workspaceId } })).toBe(1);
  });

  it('10 parallel createSegment with one name: one segment, nine NAME_TAKEN', async () => {
    const ws = await t.workspace('segment race');
    await ws.gql(UPSERT, { input: { email: 'm@race.test', tags: ['vip'] } });
    const results = await Promise.all(
      Array.from({ length: 10 }, () =>
        ws.gql(`mutation($d: JSON!) { createSegment(name: "VIPs", definition: $d) { id subscriberCount } }`, {
          d: { match: 'all', conditions: [{ tag: 'vip' }] },
        }),
      ),
    );
    expectNoInternalErrors(results);
    const ok = results.filter((r) => r.data?.createSegment);
    expect(ok).toHaveLength(1);
    expect(ok[0]!.data.createSegment.subscriberCount).toBe(1);
    expect(results.filter((r) => r.errors?.[0]?.extensions?.code === 'NAME_TAKEN')).toHaveLength(9);
    expect(await t.prisma.segment.count({ where: { workspaceId: ws.workspaceId } })).toBe(1);
  });

  it('parallel addTag of one new tag to one subscriber: all succeed, one tag attached', async () => {
    const ws = await t.workspace('add tag race');
    const sub = (await ws.gql(UPSERT, { input: { email: 'one@race.test' } })).data.upsertSubscriber.subscriber;
    const results = await Promise.all(
      Array.from({ length: 10 }, () =>
        ws.gql(`mutation($id: ID!) { addTag(subscriberId: $id, tag: "new") { subscriber { tags } errors { code } } }`, { id: sub.id }),
      ),
    );
    expectNoInternalErrors(results);
    for (const r of results) expect(r.data.addTag).toEqual({ subscriber: { tags: ['new'] }, errors: [] });
  });
});

describe('racing status changes report what they committed', () => {
  it('each enable / disable reply reports the state its own transaction set', async () => {
    const ws = await t.workspace('status race');
    const created = await ws.gql(CREATE_SEQUENCE, {
      input: { name: 'Racing', trigger: 'TAG_ADDED', tagName: 'x', steps: [{ subject: 'Hi', blocks: [{ type: 'text', text: 'Hi' }], delay: { days: 1 } }] },
    });
    const id = created.data.createSequence.sequence.id;
    const actions = Array.from({ length: 40 }, (_, i) => (i % 2 ? 'disableSequence' : 'enableSequence'));
    const results = await Promise.all(
      actions.map((action) => ws.gql(`mutation($id: ID!) { ${action}(id: $id) { sequence { status updatedAt automationPercentage steps { id } } errors { code } } }`, { id })),
    );
    expectNoInternalErrors(results);
    const replies = results.map((r, i) => ({ action: actions[i]!, ...r.data[actions[i]!] }));
    for (const reply of replies.filter((r) => !r.errors.length)) {
      expect(reply.sequence.status).toBe(reply.action === 'enableSequence' ? 'ACTIVE' : 'PAUSED');
    }
    // The last committed change is the state that stays.
    const last = replies.filter((r) => !r.errors.length).sort((a, b) => Date.parse(a.sequence.updatedAt) - Date.parse(b.sequence.updatedAt)).at(-1)!;
    const final = await t.prisma.sequence.findUniqueOrThrow({ where: { id: (await t.prisma.sequence.findFirstOrThrow({ where: { workspaceId: ws.workspaceId } })).id } });
    expect(final.status).toBe(last.sequence.status);
  });
});

describe('racing locks report what they committed', () => {
  it('each lockSequence / unlockSequence reply reports the lock its own transaction left', async () => {
    const ws = await t.workspace('lock race');
    const created = await ws.gql(CREATE_SEQUENCE, {
      input: { name: 'Locks', trigger: 'MANUAL', steps: [{ subject: 'Hi', blocks: [{ type: 'text', text: 'Hi' }], delay: { days: 1 } }] },
    });
    const id = created.data.createSequence.sequence.id;
    const actions = Array.from({ length: 40 }, (_, i) => (i % 2 ? 'unlockSequence' : 'lockSequence'));
    const results = await Promise.all(
      actions.map((action) => ws.gql(`mutation($id: ID!) { ${action}(id: $id) { sequence { locked } errors { code } } }`, { id })),
    );
    expectNoInternalErrors(results);
    results.forEach((r, i) => expect(r.data[actions[i]!]).toEqual({ sequence: { locked: actions[i] === 'lockSequence' }, errors: [] }));
  });
});

describe('racing run controls report what they committed', () => {
  it('each pauseEnrollment / resumeEnrollment reply reports the status its own transaction set', async () => {
    const ws = await t.workspace('run race');
    const created = await ws.gql(CREATE_SEQUENCE, {
      input: { name: 'Runs', trigger: 'MANUAL', steps: [{ subject: 'Hi', blocks: [{ type: 'text', text: 'Hi' }], delay: { days: 1 } }] },
    });
    const sequenceId = created.data.createSequence.sequence.id;
    await ws.gql(`mutation($id: ID!) { enableSequence(id: $id) { errors { code } } }`, { id: sequenceId });
    const enrolled = await ws.gql(
      `mutation($s: ID!) { enrollSubscriber(input: { sequenceId: $s, subscriber: { email: "run@race.test" } }) { enrollment { id } errors { code } } }`,
      { s: sequenceId },
    );
    const id = enrolled.data.enrollSubscriber.enrollment.id;
    const actions = Array.from({ length: 40 }, (_, i) => (i % 2 ? 'resumeEnrollment' : 'pauseEnrollment'));
    const results = await Promise.all(
      actions.map((action) => ws.gql(`mutation($id: ID!) { ${action}(id: $id) { enrollment { status } errors { code } } }`, { id })),
    );
    expectNoInternalErrors(results);
    const replies = results.map((r, i) => ({ action: actions[i]!, ...r.data[actions[i]!] }));
    const succeeded = replies.filter((r) => !r.errors.length);
    expect(succeeded.length).toBeGreaterThan(0);
    for (const reply of succeeded) expect(reply.enrollment.status).toBe(reply.action === 'pauseEnrollment' ? 'PAUSED' : 'ACTIVE');
    // The others were refused for the state they found, not failed.
    for (const reply of replies.filter((r) => r.errors.length)) expect(reply.errors).toEqual([{ code: 'INVALID_TRANSITION' }]);
  });
});

describe('hostile input sizes', () => {
  // Written as text: JSON.stringify itself overflows on such a value.
  const deep = (depth: number) => `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;
  const raw = async (key: string, query: string, json: string): Promise<GqlResult> => {
    const body = `{"query":${JSON.stringify(query)},"variables":{"v":${json}}}`;
    return (await t.request(body, { authorization: `Bearer ${key}` })).json() as Promise<GqlResult>;
  };

  it('JSON nested thousands of levels deep is refused with a clear error, in every JSON input', async () => {
    const ws = await t.workspace('deep json');
    const value = deep(5000);
    const calls = [
      `mutation($v: JSON) { upsertSubscriber(input: { email: "d@x.io", attributes: $v }) { errors { code } } }`,
      `mutation($v: JSON) { trackEvent(input: { email: "d@x.io", event: "e", properties: $v }) { errors { code } } }`,
      `mutation($v: JSON!) { createSegment(name: "deep", definition: $v) { id } }`,
      `mutation($v: JSON!) { cancelEnrollments(input: { sequenceId: "seq_0", fieldValues: [$v] }) { errors { code } } }`,
    ];
    for (const query of calls) {
      const r = await raw(ws.key, query, value);
      expect(r.data ?? null).toBeNull();
      expect(r.errors?.[0]?.message).toMatch(/JSON value must not nest deeper than 32 levels/);
      expectNoInternalErrors([r]);
    }
    // Within the scalar's bounds but over a field's: a UserError naming the field.
    const big = await ws.gql(`mutation($v: JSON) { upsertSubscriber(input: { email: "d@x.io", attributes: $v }) { errors { field message code } } }`, {
      v: { blob: 'x'.repeat(70_000) },
    });
    expect(big.data.upsertSubscriber.errors).toEqual([
      { field: ['input', 'attributes'], message: 'attributes must be at most 64 KB as JSON', code: 'VALIDATION' },
    ]);
  });

  it('huge segments and long field paths are refused with a clear error', async () => {
    const ws = await t.workspace('huge segment');
    const huge = await ws.gql(`mutation($v: JSON!) { createSegment(name: "huge", definition: $v) { id } }`, {
      v: { match: 'any', conditions: Array.from({ length: 19_000 }, (_, i) => ({ tag: `t${i}` })) },
    });
    expectNoInternalErrors([huge]);
    expect(huge.errors?.[0]).toMatchObject({
      message: expect.stringMatching(/at most 100 conditions/),
      extensions: { field: ['definition'] },
    });
    const path = Array.from({ length: 5000 }, () => 'a').join('.');
    const cancel = await ws.gql(
      `mutation($p: String) { cancelEnrollments(input: { sequenceId: "seq_0", fieldPath: $p, fieldValues: [1] }) { errors { field message } } }`,
      { p: path },
    );
    expectNoInternalErrors([cancel]);
    expect(cancel.data.cancelEnrollments.errors).toContainEqual({ field: ['input', 'fieldPath'], message: 'fieldPath must be at most 256 characters' });
  });
});
