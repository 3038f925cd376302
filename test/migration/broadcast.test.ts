// Broadcast's listing (page-numbered enrollments) and removal (every run ended,
// with completedAt) through the GraphQL API.
import { beforeAll, describe, expect, it } from 'vitest';
import { useTestApp } from '../helpers/app.js';

const t = await useTestApp();
let ws: Awaited<ReturnType<typeof t.workspace>>;
let sequenceId: string;

const ERRORS = 'errors { field message code }';
const PAGE = `query($id: ID!, $page: Int, $perPage: Int, $status: [EnrollmentStatus!]) {
  sequence(id: $id) { enrollmentsPage(page: $page, perPage: $perPage, status: $status) {
    page pages count prev next nodes { id status startedAt completedAt nextTriggerAt subscriber { id email } } } } }`;
const REMOVE = `mutation($input: RemoveSubscriberInput!) { removeSubscriberFromSequence(input: $input) {
  enrollment { id } enrollments { id status completedAt cancelledAt subscriber { email } } ${ERRORS} } }`;

async function ok(query: string, variables: Record<string, unknown>) {
  const res = await ws.gql(query, variables);
  expect(res.errors, JSON.stringify(res.errors)).toBeUndefined();
  return res.data;
}

async function enroll(email: string) {
  const data = await ok(`mutation($input: EnrollSubscriberInput!) { enrollSubscriber(input: $input) { enrollment { id } ${ERRORS} } }`, {
    input: { sequenceId, subscriber: { email } },
  });
  expect(data.enrollSubscriber.errors).toEqual([]);
  return data.enrollSubscriber.enrollment.id as string;
}

beforeAll(async () => {
  ws = await t.workspace();
  const created = await ok(`mutation($input: CreateSequenceInput!) { createSequence(input: $input) { sequence { id } ${ERRORS} } }`, {
    input: { name: 'Broadcast list', trigger: 'MANUAL', steps: [{ subject: 'Hi', blocks: [{ type: 'text', text: 'Hi' }], delay: { days: 3 } }] },
  });
  sequenceId = created.createSequence.sequence.id;
  await ok(`mutation($id: ID!) { enableSequence(id: $id) { ${ERRORS} } }`, { id: sequenceId });
});

describe('enrollmentsPage', () => {
  it('pages through the runs newest first, with page, pages, count, prev and next', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push(await enroll(`p${i}@broadcast.test`));
    const first = (await ok(PAGE, { id: sequenceId, perPage: 2 })).sequence.enrollmentsPage;
    expect(first).toMatchObject({ page: 1, pages: 3, count: 5, prev: null, next: 2 });
    expect(first.nodes.map((n: any) => n.id)).toEqual([ids[4], ids[3]]);
    expect(first.nodes[0]).toMatchObject({ status: 'ACTIVE', completedAt: null, subscriber: { email: 'p4@broadcast.test' } });
    expect(first.nodes[0].nextTriggerAt).not.toBeNull();

    const last = (await ok(PAGE, { id: sequenceId, page: 3, perPage: 2 })).sequence.enrollmentsPage;
    expect(last).toMatchObject({ page: 3, pages: 3, count: 5, prev: 2, next: null });
    expect(last.nodes.map((n: any) => n.id)).toEqual([ids[0]]);

    const past = (await ok(PAGE, { id: sequenceId, page: 9, perPage: 2 })).sequence.enrollmentsPage;
    expect(past).toMatchObject({ page: 9, pages: 3, prev: 3, next: null, nodes: [] });

    // Defaults: page 1, 25 per page.
    const all = (await ok(PAGE, { id: sequenceId })).sequence.enrollmentsPage;
    expect(all).toMatchObject({ page: 1, pages: 1, count: 5, prev: null, next: null });
    expect(all.nodes).toHaveLength(5);
  });

  it('filters by status', async () => {
    const none = (await ok(PAGE, { id: sequenceId, status: ['COMPLETED'] })).sequence.enrollmentsPage;
    expect(none).toMatchObject({ count: 0, pages: 1, nodes: [] });
  });

  it('refuses perPage above 100 and page below 1 with a clear error', async () => {
    const tooMany = await ws.gql(PAGE, { id: sequenceId, perPage: 101 });
    expect(tooMany.errors?.[0]).toMatchObject({ message: 'perPage must be between 1 and 100', extensions: { code: 'BAD_USER_INPUT', field: ['perPage'] } });
    const zero = await ws.gql(PAGE, { id: sequenceId, page: 0 });
    expect(zero.errors?.[0]).toMatchObject({ message: 'page must be at least 1', extensions: { code: 'BAD_USER_INPUT' } });
  });
});

describe('removeSubscriberFromSequence', () => {
  it('ends every open run of the subscriber, sets completedAt, and returns them all', async () => {
    const a = await enroll('twice@broadcast.test');
    const b = await enroll('twice@broadcast.test');
    const other = await enroll('stays@broadcast.test');
    const removed = (await ok(REMOVE, { input: { sequenceId, email: 'Twice@broadcast.test' } })).removeSubscriberFromSequence;
    expect(removed.errors).toEqual([]);
    expect(removed.enrollment.id).toBe(b);
    expect(removed.enrollments.map((r: any) => r.id)).toEqual([b, a]);
    for (const run of removed.enrollments) {
      expect(run.status).toBe('CANCELLED');
      expect(run.completedAt).not.toBeNull();
      expect(run.completedAt).toBe(run.cancelledAt);
    }
    const stays = await t.prisma.enrollment.findMany({ where: { subscriber: { email: 'stays@broadcast.test' } } });
    expect(stays.map((r) => r.status)).toEqual(['ACTIVE']);
    expect(other).toBeTruthy();

    const again = (await ok(REMOVE, { input: { sequenceId, email: 'twice@broadcast.test' } })).removeSubscriberFromSequence;
    expect(again).toMatchObject({ enrollment: null, enrollments: [] });
    expect(again.errors[0].code).toBe('NOT_FOUND');
  });
});
