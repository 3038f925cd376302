// trackEvents and trackEvent are set-based: the statements a call runs do not grow
// with its number of events or of runs started (N+1 would show here first).
import { expect, it } from 'vitest';
import { useTestApp } from '../helpers/app.js';

const statements: string[] = [];
const t = await useTestApp({ onQuery: (sql) => statements.push(sql) });

const TRACK_MANY = `mutation($input: TrackEventsInput!) { trackEvents(input: $input) {
  results { event { id } enrollments { id status } skipped { code sequence { id } } } errors { field code } } }`;

it('a batch of 200 events runs as many statements as a batch of 5', async () => {
  const ws = await t.workspace();
  const steps = [{ subject: 'Hi', blocks: [{ type: 'text', text: 'Hi' }], delay: { days: 1 } }];
  for (const input of [
    { name: 'On event', trigger: 'EVENT_RECEIVED', eventName: 'stmt.ev', steps },
    { name: 'On contact', trigger: 'CONTACT_ADDED', steps },
    { name: 'Per sku', trigger: 'EVENT_RECEIVED', eventName: 'stmt.ev', enrollmentMode: 'MATCHING_FIELD', enrollmentFieldPath: 'sku', steps },
    { name: 'Once', trigger: 'EVENT_RECEIVED', eventName: 'stmt.ev', enrollmentMode: 'ONE_TIME', maxActivations: 100_000, throttleCapacity: 100_000, steps },
  ]) {
    const res = await ws.gql(`mutation($input: CreateSequenceInput!) { createSequence(input: $input) { sequence { id } errors { message } } }`, { input });
    expect(res.data.createSequence.errors).toEqual([]);
    await ws.gql(`mutation($id: ID!) { enableSequence(id: $id) { errors { message } } }`, { id: res.data.createSequence.sequence.id });
  }
  const run = async (n: number, prefix: string) => {
    const events = Array.from({ length: n }, (_, i) => ({ email: `${prefix}${i}@stmt.test`, event: 'stmt.ev', properties: { sku: `s${i % 3}` }, idempotencyKey: `${prefix}-${i}` }));
    statements.length = 0;
    const res = await ws.gql(TRACK_MANY, { input: { events } });
    expect(res.errors).toBeUndefined();
    expect(res.data.trackEvents.errors).toEqual([]);
    // Every event starts four runs: its event, its new contact, its sku (new subscriber), its first time.
    expect(res.data.trackEvents.results.every((r: { enrollments: unknown[] }) => r.enrollments.length === 4)).toBe(true);
    // Sequence.lastUsedAt is stamped at most once a minute, whatever the batch: on a slow machine
    // a minute can pass between two calls, so the stamp is not counted.
    return statements.filter((sql) => !/^UPDATE\b.*"Sequence".*SET "lastUsedAt"/s.test(sql)).length;
  };
  await run(1, 'warm');
  const small = await run(5, 'small');
  const large = await run(200, 'large');
  console.log(`statements: 5 events → ${small}, 200 events → ${large}`);
  if (process.env.SHOW_SQL) console.log(statements.map((s) => s.slice(0, 110).replace(/\s+/g, " ")).join("\n"));
  expect(large).toBe(small);
});

const UPSERT_MANY = `mutation($input: UpsertSubscribersInput!) { upsertSubscribers(input: $input) { subscribers { id } errors { field code } } }`;

it('an import of 400 subscribers runs as many statements as one of 20 (new and existing, tags and lists)', async () => {
  const ws = await t.workspace();
  const list = (await ws.gql(`mutation { createList(name: "Stmt list") { id } }`)).data.createList.id;
  for (const input of [
    { name: 'On import', trigger: 'CONTACT_ADDED', steps: [{ subject: 'Hi', blocks: [{ type: 'text', text: 'Hi' }], delay: { days: 1 } }] },
    { name: 'On tag', trigger: 'TAG_ADDED', tagName: 'vip', steps: [{ subject: 'Hi', blocks: [{ type: 'text', text: 'Hi' }], delay: { days: 1 } }] },
  ]) {
    const res = await ws.gql(`mutation($input: CreateSequenceInput!) { createSequence(input: $input) { sequence { id } errors { message } } }`, { input });
    await ws.gql(`mutation($id: ID!) { enableSequence(id: $id) { errors { message } } }`, { id: res.data.createSequence.sequence.id });
  }
  const run = async (n: number, prefix: string) => {
    // Half of them exist already: the import updates those and creates the rest.
    await ws.gql(UPSERT_MANY, { input: { subscribers: Array.from({ length: n / 2 }, (_, i) => ({ email: `${prefix}${i}@stmt.test` })) } });
    const subscribers = Array.from({ length: n }, (_, i) => ({ email: `${prefix}${i}@stmt.test`, firstName: `F${i}`, attributes: { i }, tags: ['vip', `t${i % 3}`], listIds: [list] }));
    statements.length = 0;
    const res = await ws.gql(UPSERT_MANY, { input: { subscribers } });
    expect(res.errors).toBeUndefined();
    expect(res.data.upsertSubscribers.errors).toEqual([]);
    return statements.length;
  };
  await run(2, 'imp-warm'); // the first starts also stamp Sequence.lastUsedAt (at most once a minute)
  const small = await run(20, 'imp-small');
  const large = await run(400, 'imp-large');
  console.log(`statements: import of 20 → ${small}, of 400 → ${large}`);
  expect(large).toBe(small);
  expect(await t.prisma.subscriberTag.count({ where: { subscriber: { email: { startsWith: 'imp-large' } } } })).toBe(800);
  expect(await t.prisma.listMembership.count({ where: { subscriber: { email: { startsWith: 'imp-large' } } } })).toBe(400);
});
