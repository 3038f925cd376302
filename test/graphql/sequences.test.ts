import { beforeAll, describe, expect, it } from 'vitest';
import { useTestApp } from '../helpers/app.js';

const t = await useTestApp();
let ws: Awaited<ReturnType<typeof t.workspace>>;
let listId: string;
let segmentId: string;

const SEQUENCE_FIELDS = `
  id slug name status enabled enabledAt stepCount durationInDays
  trigger { type listId tagName segmentId eventName inactiveDays minCount timeWindowDays }
  enrollmentMode enrollmentFieldPath stopCondition { type value } primaryReplyAction primaryReplyPauseDuration
  throttleCapacity throttleMaxAddsPerDay throttlePaused maxActivations transactional
  sendWindow { timezone daysOfWeek startHour endHour } goal generationStatus
  steps { id position type name subject previewText blocks delay { days hours minutes } discount { provider discountType percentOff codePrefix expiresInHours } }
`;
const CREATE = `mutation($input: CreateSequenceInput!) {
  createSequence(input: $input) { sequence { ${SEQUENCE_FIELDS} } errors { field message code } }
}`;

const email = (subject = "Hello {{subscriber.firstName|there}}", delay: Record<string, number> = { days: 1 }) => ({
  subject,
  blocks: [{ type: 'text', text: 'Welcome!' }],
  delay,
});

async function create(input: Record<string, unknown>) {
  const res = await ws.gql(CREATE, { input: { name: 'Onboarding', ...input } });
  expect(res.errors).toBeUndefined();
  return res.data.createSequence as { sequence: any; errors: { field: string[]; message: string; code: string }[] };
}

beforeAll(async () => {
  ws = await t.workspace();
  const list = await ws.gql(`mutation { createList(name: "Customers") { id } }`);
  listId = list.data.createList.id;
  const seg = await ws.gql(`mutation($d: JSON!) { createSegment(name: "Pro", definition: $d) { id } }`, {
    d: { match: 'all', conditions: [{ attribute: 'plan', op: 'eq', value: 'pro' }] },
  });
  segmentId = seg.data.createSegment.id;
});

describe('createSequence triggers', () => {
  const valid: [string, () => Record<string, unknown>][] = [
    ['CONTACT_ADDED', () => ({})],
    ['CONTACT_ADDED', () => ({ listId })],
    ['TAG_ADDED', () => ({ tagName: 'vip' })],
    ['SEGMENT_ENTERED', () => ({ segmentId })],
    ['EVENT_RECEIVED', () => ({ eventName: 'order.placed' })],
    ['INACTIVITY', () => ({ inactiveDays: 30 })],
    ['INACTIVITY', () => ({ inactiveDays: 14, eventName: 'login' })],
    ['FREQUENCY', () => ({ eventName: 'page.viewed', minCount: 3, timeWindowDays: 7 })],
    ['MANUAL', () => ({})],
  ];
  it.each(valid)('accepts %s with its fields', async (trigger, fields) => {
    const { sequence, errors } = await create({ trigger, ...fields(), steps: [email()] });
    expect(errors).toEqual([]);
    expect(sequence.status).toBe('DRAFT');
    expect(sequence.enabled).toBe(false);
    expect(sequence.trigger.type).toBe(trigger);
    for (const [k, v] of Object.entries(fields())) expect(sequence.trigger[k]).toEqual(v);
  });

  const missing: [string, Record<string, unknown>, string][] = [
    ['TAG_ADDED', {}, 'tagName'],
    ['SEGMENT_ENTERED', {}, 'segmentId'],
    ['EVENT_RECEIVED', {}, 'eventName'],
    ['INACTIVITY', {}, 'inactiveDays'],
    ['FREQUENCY', { eventName: 'x', minCount: 2 }, 'timeWindowDays'],
    ['FREQUENCY', { eventName: 'x', timeWindowDays: 2 }, 'minCount'],
    ['FREQUENCY', { minCount: 2, timeWindowDays: 2 }, 'eventName'],
  ];
  it.each(missing)('rejects %s without %o (missing %s)', async (trigger, fields, field) => {
    const { sequence, errors } = await create({ trigger, ...fields, steps: [email()] });
    expect(sequence).toBeNull();
    expect(errors).toContainEqual({ field: ['input', field], message: `${field} is required for ${trigger} triggers`, code: 'VALIDATION' });
  });

  it('rejects trigger fields that do not apply', async () => {
    const { errors } = await create({ trigger: 'MANUAL', tagName: 'vip' });
    expect(errors).toEqual([{ field: ['input', 'tagName'], message: 'tagName does not apply to MANUAL triggers', code: 'VALIDATION' }]);
  });

  it('rejects a list or segment of another workspace, and malformed IDs', async () => {
    const other = await t.workspace('other');
    const otherList = (await other.gql(`mutation { createList(name: "Theirs") { id } }`)).data.createList.id;
    expect((await create({ trigger: 'CONTACT_ADDED', listId: otherList })).errors).toEqual([
      { field: ['input', 'listId'], message: 'List not found', code: 'NOT_FOUND' },
    ]);
    expect((await create({ trigger: 'SEGMENT_ENTERED', segmentId: 'seg_nothex' })).errors[0]).toMatchObject({
      field: ['input', 'segmentId'],
      code: 'NOT_FOUND',
    });
  });

  it('allows MATCHING_FIELD only on event triggers; without a field path the key comes from built-in fields', async () => {
    const ok = await create({
      trigger: 'EVENT_RECEIVED', eventName: 'order.placed', enrollmentMode: 'MATCHING_FIELD', enrollmentFieldPath: 'order.id',
    });
    expect(ok.errors).toEqual([]);
    expect(ok.sequence.enrollmentMode).toBe('MATCHING_FIELD');
    const wrongTrigger = await create({ trigger: 'TAG_ADDED', tagName: 'x', enrollmentMode: 'MATCHING_FIELD', enrollmentFieldPath: 'a' });
    expect(wrongTrigger.errors.map((e) => e.field)).toContainEqual(['input', 'enrollmentMode']);
    // Issue 12.2: no enrollmentFieldPath is allowed (properties.enrollmentKey, then product/variant fields).
    const noPath = await create({ trigger: 'EVENT_RECEIVED', eventName: 'x', enrollmentMode: 'MATCHING_FIELD' });
    expect(noPath.errors).toEqual([]);
    expect(noPath.sequence).toMatchObject({ enrollmentMode: 'MATCHING_FIELD', enrollmentFieldPath: null });
    const badPath = await create({ trigger: 'EVENT_RECEIVED', eventName: 'x', enrollmentFieldPath: 'a..b' });
    expect(badPath.errors.map((e) => e.field)).toContainEqual(['input', 'enrollmentFieldPath']);
  });
});

describe('steps', () => {
  it('stores email steps with blocks, delays and ids, and computes duration', async () => {
    const { sequence } = await create({
      trigger: 'MANUAL',
      steps: [email('One', { days: 0 }), email('Two', { days: 2, hours: 5 }), email('Three', { hours: 1 })],
    });
    expect(sequence.stepCount).toBe(3);
    expect(sequence.durationInDays).toBe(3); // 2d 6h rounds up
    expect(sequence.steps.map((s: any) => [s.position, s.subject])).toEqual([[1, 'One'], [2, 'Two'], [3, 'Three']]);
    expect(sequence.steps[1].delay).toEqual({ days: 2, hours: 5, minutes: 0 });
    expect(sequence.steps[0].id).toMatch(/^stp_[0-9a-f]{32}$/);
    expect(sequence.steps[0].blocks).toEqual([{ id: 'b1', type: 'text', text: 'Welcome!', variant: 'body' }]);
  });

  it('converts an html step into blocks', async () => {
    const { sequence, errors } = await create({ trigger: 'MANUAL', steps: [{ subject: 'Hi', html: '<p>Hello</p>' }] });
    expect(errors).toEqual([]);
    expect(sequence.steps[0].blocks.length).toBeGreaterThan(0);
  });

  it('rejects a step with both blocks and html, or neither, or no subject', async () => {
    const both = await create({ trigger: 'MANUAL', steps: [{ subject: 'x', html: '<p>a</p>', blocks: [{ type: 'divider' }] }] });
    expect(both.errors).toContainEqual({ field: ['input', 'steps', '0', 'html'], message: 'html cannot be combined with blocks', code: 'VALIDATION' });
    const neither = await create({ trigger: 'MANUAL', steps: [email(), { subject: 'x' }] });
    expect(neither.errors.map((e) => e.field)).toContainEqual(['input', 'steps', '1', 'blocks']);
    const noSubject = await create({ trigger: 'MANUAL', steps: [{ blocks: [{ type: 'divider' }] }] });
    expect(noSubject.errors.map((e) => e.field)).toContainEqual(['input', 'steps', '0', 'subject']);
  });

  it('rejects malformed blocks with the path of the bad block', async () => {
    const res = await create({ trigger: 'MANUAL', steps: [{ subject: 'x', blocks: [{ type: 'text', text: 'ok' }, { type: 'button', text: 'Go' }] }] });
    expect(res.sequence).toBeNull();
    expect(res.errors[0]!.field.slice(0, 5)).toEqual(['input', 'steps', '0', 'blocks', '1']);
  });

  it('stores discount steps and validates their terms', async () => {
    const ok = await create({
      trigger: 'MANUAL',
      steps: [
        { type: 'CREATE_DISCOUNT', discount: { discountType: 'percent', percentOff: 20, codePrefix: 'vip', expiresInHours: 48 } },
        email('Your code {{discount.code}}'),
      ],
    });
    expect(ok.errors).toEqual([]);
    expect(ok.sequence.steps[0]).toMatchObject({
      type: 'CREATE_DISCOUNT',
      discount: { provider: 'BUILTIN', discountType: 'percent', percentOff: 20, codePrefix: 'VIP', expiresInHours: 48 },
    });
    const bad = await create({
      trigger: 'MANUAL',
      steps: [{ type: 'CREATE_DISCOUNT', discount: { discountType: 'amount', amountOff: 500 } }, { type: 'CREATE_DISCOUNT' }],
    });
    expect(bad.errors.map((e) => e.field)).toEqual(
      expect.arrayContaining([['input', 'steps', '0', 'discount', 'currency'], ['input', 'steps', '1', 'discount']]),
    );
  });

  it('writes nothing when one step is invalid', async () => {
    const before = await t.prisma.sequence.count();
    const res = await create({ trigger: 'MANUAL', name: 'Half', steps: [email(), email(), { subject: 'bad' }] });
    expect(res.sequence).toBeNull();
    expect(await t.prisma.sequence.count()).toBe(before);
  });
});

describe('settings', () => {
  it('stores stop condition, reply handling, throttles and send window', async () => {
    const { sequence, errors } = await create({
      trigger: 'EVENT_RECEIVED',
      eventName: 'trial.started',
      stopCondition: { type: 'HAS_TAG', value: 'customer' },
      primaryReplyAction: 'PAUSE',
      primaryReplyPauseDuration: 86400,
      throttleCapacity: 100,
      throttleMaxAddsPerDay: 50,
      maxActivations: 1000,
      transactional: true,
      sendWindow: { timezone: 'Europe/Berlin', daysOfWeek: [1, 2, 3, 4, 5], startHour: 9, endHour: 17 },
    });
    expect(errors).toEqual([]);
    expect(sequence).toMatchObject({
      stopCondition: { type: 'HAS_TAG', value: 'customer' },
      primaryReplyAction: 'PAUSE',
      primaryReplyPauseDuration: 86400,
      throttleCapacity: 100,
      throttleMaxAddsPerDay: 50,
      maxActivations: 1000,
      transactional: true,
      sendWindow: { timezone: 'Europe/Berlin', daysOfWeek: [1, 2, 3, 4, 5], startHour: 9, endHour: 17 },
    });
  });

  it('rejects inconsistent settings', async () => {
    const res = await create({
      trigger: 'MANUAL',
      stopCondition: { type: 'HAS_TAG' },
      throttleCapacity: 0,
      sendWindow: { timezone: 'Mars/Olympus', daysOfWeek: [8], startHour: 18, endHour: 9 },
    });
    const fields = res.errors.map((e) => e.field.join('.'));
    expect(fields).toEqual(
      expect.arrayContaining([
        'input.stopCondition.value',
        'input.throttleCapacity',
        'input.sendWindow.timezone',
      ]),
    );
    const pause = await create({ trigger: 'MANUAL', primaryReplyAction: 'PAUSE' });
    expect(pause.errors).toEqual([
      { field: ['input', 'primaryReplyPauseDuration'], message: 'primaryReplyPauseDuration is required when primaryReplyAction is PAUSE', code: 'VALIDATION' },
    ]);
  });

  it('generates unique slugs and refuses a taken one', async () => {
    const a = await create({ trigger: 'MANUAL', name: 'Win-back Émails!' });
    const b = await create({ trigger: 'MANUAL', name: 'Win-back Émails!' });
    expect(a.sequence.slug).toBe('win-back-emails');
    expect(b.sequence.slug).toBe('win-back-emails-2');
    const taken = await create({ trigger: 'MANUAL', slug: 'win-back-emails' });
    expect(taken.errors).toEqual([{ field: ['input', 'slug'], message: 'The slug "win-back-emails" is already used by another sequence', code: 'SLUG_TAKEN' }]);
  });

  it('takes a goal (generation pending) but not goal and steps together', async () => {
    const goal = await create({ trigger: 'MANUAL', goal: 'Convert trial users', emailCount: 3 });
    expect(goal.sequence).toMatchObject({ goal: 'Convert trial users', generationStatus: 'PENDING' });
    const both = await create({ trigger: 'MANUAL', goal: 'x', steps: [email()] });
    expect(both.errors.map((e) => e.field)).toContainEqual(['input', 'goal']);
    const tooMany = await create({ trigger: 'MANUAL', goal: 'x', emailCount: 11 });
    expect(tooMany.errors.map((e) => e.field)).toContainEqual(['input', 'emailCount']);
  });
});

describe('status transitions', () => {
  const act = async (mutation: string, id: string) =>
    (await ws.gql(`mutation($id: ID!) { ${mutation}(id: $id) { sequence { status enabled enabledAt } errors { field message code } } }`, { id }))
      .data[mutation];

  it('moves DRAFT → ACTIVE ↔ PAUSED → ARCHIVED and sets enabledAt', async () => {
    const { sequence } = await create({ trigger: 'MANUAL', steps: [email()] });
    const enabled = await act('enableSequence', sequence.id);
    expect(enabled.sequence).toMatchObject({ status: 'ACTIVE', enabled: true });
    expect(enabled.sequence.enabledAt).not.toBeNull();
    const paused = await act('disableSequence', sequence.id);
    expect(paused.sequence).toMatchObject({ status: 'PAUSED', enabled: false, enabledAt: null });
    expect((await act('enableSequence', sequence.id)).sequence.status).toBe('ACTIVE');
    expect((await act('archiveSequence', sequence.id)).sequence.status).toBe('ARCHIVED');
    const again = await act('enableSequence', sequence.id);
    expect(again).toEqual({ sequence: null, errors: [{ field: ['id'], message: 'Cannot enable a sequence that is archived', code: 'INVALID_TRANSITION' }] });
    const edit = await ws.gql(`mutation($id: ID!) { updateSequence(id: $id, input: { name: "x" }) { errors { code } } }`, { id: sequence.id });
    expect(edit.data.updateSequence.errors).toEqual([{ code: 'ARCHIVED' }]);
  });

  it('refuses to disable a draft or enable a sequence without steps', async () => {
    const { sequence } = await create({ trigger: 'MANUAL' });
    expect((await act('disableSequence', sequence.id)).errors[0].code).toBe('INVALID_TRANSITION');
    expect((await act('enableSequence', sequence.id)).errors[0]).toMatchObject({ code: 'NO_STEPS' });
  });

  it('reports unknown or foreign sequence IDs as not found', async () => {
    expect((await act('enableSequence', 'seq_00000000000000000000000000000000')).errors[0]).toMatchObject({ code: 'NOT_FOUND', field: ['id'] });
    expect((await act('enableSequence', 'sub_00000000000000000000000000000000')).errors[0]).toMatchObject({ code: 'NOT_FOUND' });
  });
});

describe('updateSequence', () => {
  it('replaces steps, keeping the ids of steps it names', async () => {
    const { sequence } = await create({ trigger: 'MANUAL', steps: [email('A'), email('B')] });
    const [a, b] = sequence.steps;
    const res = await ws.gql(
      `mutation($id: ID!, $input: UpdateSequenceInput!) { updateSequence(id: $id, input: $input) { sequence { name steps { id position subject } } errors { field message } } }`,
      { id: sequence.id, input: { name: 'Renamed', steps: [{ ...email('B2'), id: b.id }, email('C')] } },
    );
    expect(res.data.updateSequence.errors).toEqual([]);
    const steps = res.data.updateSequence.sequence.steps;
    expect(res.data.updateSequence.sequence.name).toBe('Renamed');
    expect(steps.map((s: any) => [s.position, s.subject])).toEqual([[1, 'B2'], [2, 'C']]);
    expect(steps[0].id).toBe(b.id);
    expect(steps.map((s: any) => s.id)).not.toContain(a.id);
  });

  it('keeps an active sequence sendable and leaves steps being generated alone', async () => {
    const active = (await create({ trigger: 'MANUAL', steps: [email('Live')] })).sequence;
    await ws.gql(`mutation($id: ID!) { enableSequence(id: $id) { errors { code } } }`, { id: active.id });
    // A live sequence's steps change through its draft, and publishing refuses a draft that leaves it unsendable.
    const direct = await ws.gql(
      `mutation($id: ID!, $input: UpdateSequenceInput!) { updateSequence(id: $id, input: $input) { errors { field code } } }`,
      { id: active.id, input: { steps: [] } },
    );
    expect(direct.data.updateSequence.errors).toEqual([{ field: ['input', 'steps'], code: 'USE_DRAFT' }]);
    const draft = (steps: unknown[]) =>
      ws.gql(`mutation($id: ID!, $input: UpdateSequenceInput!) { editSequenceDraft(id: $id, input: $input) { errors { field code } } }`, { id: active.id, input: { steps } });
    const publish = async () =>
      (await ws.gql(`mutation($id: ID!) { publishSequence(id: $id, input: { dryRun: false }) { version errors { field code } } }`, { id: active.id })).data.publishSequence;
    expect((await draft([])).data.editSequenceDraft.errors).toEqual([]);
    expect(await publish()).toEqual({ version: null, errors: [{ field: ['id'], code: 'NO_STEPS' }] });
    await draft([{ type: 'CREATE_DISCOUNT', discount: { provider: 'STRIPE', discountType: 'percent', percentOff: 10 } }, email('Code')]);
    expect(await publish()).toEqual({ version: null, errors: [{ field: ['id'], code: 'STRIPE_NOT_CONNECTED' }] });
    const still = await ws.gql(`query($id: ID!) { sequence(id: $id) { steps { subject } } }`, { id: active.id });
    expect(still.data.sequence.steps).toEqual([{ subject: 'Live' }]);

    const drafting = (await create({ trigger: 'MANUAL', goal: 'Welcome new users', emailCount: 2 })).sequence;
    const edit = await ws.gql(
      `mutation($id: ID!, $input: UpdateSequenceInput!) { updateSequence(id: $id, input: $input) { errors { field code } } }`,
      { id: drafting.id, input: { steps: [email('Mine')] } },
    );
    expect(edit.data.updateSequence.errors).toEqual([{ field: ['input', 'steps'], code: 'GENERATION_PENDING' }]);
  });

  it('rejects a step id of another sequence and keeps the old steps', async () => {
    const one = (await create({ trigger: 'MANUAL', steps: [email('Mine')] })).sequence;
    const two = (await create({ trigger: 'MANUAL', steps: [email('Theirs')] })).sequence;
    const res = await ws.gql(
      `mutation($id: ID!, $input: UpdateSequenceInput!) { updateSequence(id: $id, input: $input) { errors { field code } } }`,
      { id: one.id, input: { steps: [{ ...email('X'), id: two.steps[0].id }] } },
    );
    expect(res.data.updateSequence.errors).toEqual([{ field: ['input', 'steps', '0', 'id'], code: 'NOT_FOUND' }]);
    const after = await ws.gql(`query($id: ID!) { sequence(id: $id) { steps { subject } } }`, { id: one.id });
    expect(after.data.sequence.steps).toEqual([{ subject: 'Mine' }]);
  });
});

describe('queries', () => {
  it('paginates sequences with cursors, filters by status and searches by name', async () => {
    const other = await t.workspace('paging');
    for (let i = 0; i < 5; i++) {
      await other.gql(CREATE, { input: { name: `Paged ${i}`, trigger: 'MANUAL', steps: [email()] } });
    }
    const page = (after?: string) =>
      other.gql(`query($after: String) { sequences(first: 2, after: $after) { totalCount edges { cursor node { name } } pageInfo { hasNextPage endCursor } } }`, { after });
    const names: string[] = [];
    let cursor: string | undefined;
    for (let i = 0; i < 3; i++) {
      const res = (await page(cursor)).data.sequences;
      expect(res.totalCount).toBe(5);
      names.push(...res.edges.map((e: any) => e.node.name));
      cursor = res.pageInfo.endCursor;
      expect(res.pageInfo.hasNextPage).toBe(i < 2);
    }
    expect(names).toEqual(['Paged 4', 'Paged 3', 'Paged 2', 'Paged 1', 'Paged 0']);
    const search = await other.gql(`{ sequences(search: "paged 3") { totalCount edges { node { name } } } }`);
    expect(search.data.sequences).toEqual({ totalCount: 1, edges: [{ node: { name: 'Paged 3' } }] });
    const drafts = await other.gql(`{ sequences(status: ACTIVE) { totalCount } }`);
    expect(drafts.data.sequences.totalCount).toBe(0);
  });

  it('resolves prefixed IDs through node()', async () => {
    const { sequence } = await create({ trigger: 'MANUAL', steps: [email('Node')] });
    const res = await ws.gql(`query($a: ID!, $b: ID!) { a: node(id: $a) { id ... on Sequence { name } } b: node(id: $b) { ... on Step { subject } } }`, {
      a: sequence.id,
      b: sequence.steps[0].id,
    });
    expect(res.data).toEqual({ a: { id: sequence.id, name: 'Onboarding' }, b: { subject: 'Node' } });
    const bad = await ws.gql(`{ node(id: "nope") { id } }`);
    expect(bad.errors?.[0]?.message).toContain('not a valid ID');
  });
});
