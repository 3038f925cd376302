// Subscriber.externalId (the caller's own user id) through the GraphQL API:
// upsert by it, trackEvent by it, subscriber(externalId:), cancelRuns by it;
// unique per workspace, isolated across workspaces, safe under concurrency.
import { beforeAll, describe, expect, it } from 'vitest';
import { useTestEngine } from '../helpers/engine.js';
import { email, engineApi, type Workspace } from './support.js';

const t = await useTestEngine();
let ws: Workspace;
let other: Workspace;
let api: ReturnType<typeof engineApi>;
beforeAll(async () => {
  ws = await t.workspace();
  other = await t.workspace('Other workspace');
  api = engineApi(t, ws);
});

const ERRORS = 'errors { field message code }';
const UPSERT = `mutation($input: SubscriberInput!) { upsertSubscriber(input: $input) { subscriber { id email externalId firstName } ${ERRORS} } }`;
const BY_EXTERNAL = `query($externalId: String!) { subscriber(externalId: $externalId) { id email externalId } }`;
const TRACK = `mutation($input: TrackEventInput!) { trackEvent(input: $input) {
  event { id subscriber { id email externalId } } enrollments { id status } ${ERRORS} } }`;
const CANCEL = `mutation($input: CancelRunsInput!) { cancelRuns(input: $input) { executionIds ${ERRORS} } }`;

const upsert = async (w: Workspace, input: Record<string, unknown>) => (await w.gql(UPSERT, { input })).data.upsertSubscriber;
const byExternal = async (w: Workspace, externalId: string) => (await w.gql(BY_EXTERNAL, { externalId })).data.subscriber;

describe('upsertSubscriber with externalId', () => {
  it('matches by externalId first (changing the email), else by email (taking the externalId)', async () => {
    const created = await upsert(ws, { email: 'ann@ext.test', externalId: 'user-1' });
    expect(created).toMatchObject({ subscriber: { email: 'ann@ext.test', externalId: 'user-1' }, errors: [] });
    const moved = await upsert(ws, { email: 'ann.new@ext.test', externalId: 'user-1', firstName: 'Ann' });
    expect(moved.subscriber).toEqual({ id: created.subscriber.id, email: 'ann.new@ext.test', externalId: 'user-1', firstName: 'Ann' });
    expect(await byExternal(ws, 'user-1')).toEqual({ id: created.subscriber.id, email: 'ann.new@ext.test', externalId: 'user-1' });
    // Without externalId the email matches, and the externalId is kept.
    expect((await upsert(ws, { email: 'ann.new@ext.test', lastName: 'Lee' })).subscriber).toMatchObject({ id: created.subscriber.id, externalId: 'user-1' });
    // A subscriber known by email alone takes the externalId given later.
    const plain = await upsert(ws, { email: 'ben@ext.test' });
    expect(plain.subscriber.externalId).toBeNull();
    expect((await upsert(ws, { email: 'ben@ext.test', externalId: 'user-2' })).subscriber).toMatchObject({ id: plain.subscriber.id, externalId: 'user-2' });
    expect(await t.prisma.subscriber.count({ where: { email: { endsWith: '@ext.test' } } })).toBe(2);
  });

  it('is unique per workspace: another person’s externalId or email is refused with a code, and nothing changes', async () => {
    await upsert(ws, { email: 'cat@ext.test', externalId: 'user-3' });
    await upsert(ws, { email: 'dan@ext.test', externalId: 'user-4' });
    // dan's email under cat's externalId: the email is taken.
    expect((await upsert(ws, { email: 'dan@ext.test', externalId: 'user-3' })).errors).toEqual([
      { field: ['input', 'email'], message: expect.stringContaining('dan@ext.test'), code: 'EMAIL_TAKEN' },
    ]);
    // cat's email with a new externalId: cat already has another one.
    expect((await upsert(ws, { email: 'cat@ext.test', externalId: 'user-9' })).errors).toEqual([
      { field: ['input', 'externalId'], message: expect.any(String), code: 'EXTERNAL_ID_CONFLICT' },
    ]);
    expect(await byExternal(ws, 'user-3')).toMatchObject({ email: 'cat@ext.test' });
    expect(await byExternal(ws, 'user-9')).toBeNull();
    expect((await upsert(ws, { email: 'eve@ext.test', externalId: '  ' })).errors[0]).toMatchObject({ field: ['input', 'externalId'], code: 'VALIDATION' });
  });

  it('is isolated across workspaces', async () => {
    const mine = await upsert(ws, { email: 'fay@ext.test', externalId: 'shared-id' });
    const theirs = await upsert(other, { email: 'fay@ext.test', externalId: 'shared-id' });
    expect(theirs.errors).toEqual([]);
    expect(theirs.subscriber.id).not.toBe(mine.subscriber.id);
    expect((await byExternal(other, 'shared-id')).id).toBe(theirs.subscriber.id);
    expect((await byExternal(ws, 'shared-id')).id).toBe(mine.subscriber.id);
    expect(await byExternal(other, 'user-1')).toBeNull();
  });

  it('concurrent upserts of one new externalId create one subscriber', async () => {
    const answers = await Promise.all(Array.from({ length: 6 }, (_, i) => upsert(ws, { email: 'gus@ext.test', externalId: 'user-race', attributes: { [`k${i}`]: i } })));
    for (const a of answers) expect(a.errors).toEqual([]);
    expect(new Set(answers.map((a) => a.subscriber.id)).size).toBe(1);
    const row = await t.prisma.subscriber.findFirstOrThrow({ where: { externalId: 'user-race' } });
    expect(Object.keys(row.attributes as object).sort()).toEqual(['k0', 'k1', 'k2', 'k3', 'k4', 'k5']);
  });

  it('subscriber(…) takes exactly one of id, email, externalId', async () => {
    const res = await ws.gql(`{ subscriber(email: "ann.new@ext.test", externalId: "user-1") { id } }`);
    expect(res.errors?.[0]?.message).toContain('exactly one');
  });
});

describe('trackEvent and cancelRuns by externalId', () => {
  it('tracks for a known externalId, creates with an email, refuses an unknown one without; cancels by externalId', async () => {
    const seq = await api.sequence({ name: 'Ext events', trigger: 'EVENT_RECEIVED', eventName: 'ext.ping', steps: [email('Ping', { days: 1 })] });
    const known = await upsert(ws, { email: 'hal@ext.test', externalId: 'user-10' });

    const tracked = (await ws.gql(TRACK, { input: { externalId: 'user-10', event: 'ext.ping' } })).data.trackEvent;
    expect(tracked.errors).toEqual([]);
    expect(tracked.event.subscriber).toEqual({ id: known.subscriber.id, email: 'hal@ext.test', externalId: 'user-10' });
    expect(tracked.enrollments).toHaveLength(1);

    const unknown = (await ws.gql(TRACK, { input: { externalId: 'user-11', event: 'ext.ping' } })).data.trackEvent;
    expect(unknown).toMatchObject({ event: null, enrollments: [], errors: [{ field: ['input', 'externalId'], code: 'NOT_FOUND' }] });
    expect(await t.prisma.event.count({ where: { subscriber: { externalId: 'user-11' } } })).toBe(0);

    // With an email, concurrent calls create one subscriber with both.
    const created = await Promise.all(
      Array.from({ length: 4 }, () => ws.gql(TRACK, { input: { externalId: 'user-11', email: 'ivy@ext.test', event: 'ext.ping' } })),
    );
    for (const c of created) expect(c.data.trackEvent.errors).toEqual([]);
    expect(new Set(created.map((c) => c.data.trackEvent.event.subscriber.id)).size).toBe(1);
    expect(created[0]!.data.trackEvent.event.subscriber).toMatchObject({ email: 'ivy@ext.test', externalId: 'user-11' });
    expect(await t.prisma.subscriber.count({ where: { email: 'ivy@ext.test' } })).toBe(1);

    // Another workspace's externalId is not found here.
    await upsert(other, { email: 'jo@ext.test', externalId: 'user-12' });
    expect((await ws.gql(TRACK, { input: { externalId: 'user-12', event: 'ext.ping' } })).data.trackEvent.errors[0].code).toBe('NOT_FOUND');

    // cancelRuns: a recipient may be an externalId, beside ids and emails.
    const before = await api.runs(seq);
    expect(before.filter((r) => r.status === 'ACTIVE').map((r) => r.subscriber.email).sort()).toEqual(['hal@ext.test', 'ivy@ext.test', 'ivy@ext.test', 'ivy@ext.test', 'ivy@ext.test']);
    const cancelled = (await ws.gql(CANCEL, { input: { recipients: ['user-10'] } })).data.cancelRuns;
    expect(cancelled.errors).toEqual([]);
    expect(cancelled.executionIds).toEqual([tracked.enrollments[0].id]);
    expect((await api.run(tracked.enrollments[0].id)).status).toBe('CANCELLED');
    // The other workspace's externalId cancels nothing here.
    expect((await ws.gql(CANCEL, { input: { recipients: ['user-12'] } })).data.cancelRuns.executionIds).toEqual([]);
  });
});
