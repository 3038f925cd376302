// What a caller moving from Sequenzy notices: emailCount, the creation message,
// and list ids that are not this workspace's refused with NOT_FOUND.
import { beforeAll, describe, expect, it } from 'vitest';
import { useTestApp } from '../helpers/app.js';

const t = await useTestApp();
let ws: Awaited<ReturnType<typeof t.workspace>>;
let other: Awaited<ReturnType<typeof t.workspace>>;
let ownList: string;
let foreignList: string;

const ERRORS = 'errors { field message code }';
const CREATE = `mutation($input: CreateSequenceInput!) { createSequence(input: $input) {
  message sequence { id emailCount generationStatus stopCondition { type value } } ${ERRORS} } }`;
const UPDATE = `mutation($id: ID!, $input: UpdateSequenceInput!) { updateSequence(id: $id, input: $input) {
  message sequence { id stopCondition { type value } } ${ERRORS} } }`;
const SEGMENT = `mutation($d: JSON!) { createSegment(name: "By list", definition: $d) { id } }`;
const email = (subject: string) => ({ subject, blocks: [{ type: 'text', text: subject }] });

const create = async (input: Record<string, unknown>) => (await ws.gql(CREATE, { input: { name: 'Seq', trigger: 'MANUAL', ...input } })).data.createSequence;

beforeAll(async () => {
  ws = await t.workspace();
  other = await t.workspace('Other');
  ownList = (await ws.gql(`mutation { createList(name: "Mine") { id } }`)).data.createList.id;
  foreignList = (await other.gql(`mutation { createList(name: "Theirs") { id } }`)).data.createList.id;
});

describe('createSequence answers like Sequenzy', () => {
  it('a goal: message says how many emails are being written; emailCount is that number', async () => {
    const created = await create({ goal: 'Welcome new customers and get a first order', emailCount: 3 });
    expect(created.errors).toEqual([]);
    expect(created.message).toBe('Sequence created. Generating 3 emails…');
    expect(created.sequence).toMatchObject({ emailCount: 3, generationStatus: 'PENDING' });
    const byDefault = await create({ goal: 'Win back lapsed buyers' });
    expect(byDefault.message).toBe('Sequence created. Generating 5 emails…');
    expect(byDefault.sequence.emailCount).toBe(5);
  });

  it('explicit steps: message without generation; emailCount counts the EMAIL steps', async () => {
    const created = await create({
      steps: [email('One'), { type: 'CREATE_DISCOUNT', discount: { discountType: 'percent', percentOff: 10 } }, email('Two')],
    });
    expect(created.message).toBe('Sequence created.');
    expect(created.sequence.emailCount).toBe(2);
    const updated = (await ws.gql(UPDATE, { id: created.sequence.id, input: { name: 'Renamed' } })).data.updateSequence;
    expect(updated).toMatchObject({ message: 'Sequence updated.', errors: [] });
  });

  it('a failed create has no message', async () => {
    const failed = await create({ goal: 'x', steps: [email('a')] });
    expect(failed).toMatchObject({ message: null, sequence: null });
  });
});

describe('list ids must be lists of this workspace', () => {
  it('stop condition on create: own list accepted, another workspace’s or a made-up one NOT_FOUND', async () => {
    const ok = await create({ stopCondition: { type: 'ADDED_TO_LIST', value: ownList }, steps: [email('a')] });
    expect(ok.errors).toEqual([]);
    expect(ok.sequence.stopCondition).toEqual({ type: 'ADDED_TO_LIST', value: ownList });
    for (const value of [foreignList, 'lst_doesnotexist', 'not-an-id']) {
      const before = await t.prisma.sequence.count();
      const refused = await create({ name: 'Bad stop', stopCondition: { type: 'REMOVED_FROM_LIST', value }, steps: [email('a')] });
      expect(refused.sequence).toBeNull();
      expect(refused.errors).toEqual([{ field: ['input', 'stopCondition', 'value'], message: 'List not found', code: 'NOT_FOUND' }]);
      expect(await t.prisma.sequence.count()).toBe(before);
    }
  });

  it('stop condition on update: refused, the sequence unchanged', async () => {
    const created = await create({ steps: [email('a')] });
    const refused = (await ws.gql(UPDATE, { id: created.sequence.id, input: { stopCondition: { type: 'ADDED_TO_LIST', value: foreignList } } })).data
      .updateSequence;
    expect(refused.errors).toEqual([{ field: ['input', 'stopCondition', 'value'], message: 'List not found', code: 'NOT_FOUND' }]);
    const row = await t.prisma.sequence.findFirstOrThrow({ where: { workspaceId: ws.workspaceId }, orderBy: { createdAt: 'desc' } });
    expect(row.stopConditionType).toBe('NONE');
  });

  it('a segment naming another workspace’s list is NOT_FOUND and not created', async () => {
    const refused = await ws.gql(SEGMENT, { d: { match: 'all', conditions: [{ tag: 'vip' }, { list: foreignList }] } });
    expect(refused.errors?.[0]).toMatchObject({ message: `List ${foreignList} not found`, extensions: { code: 'NOT_FOUND', field: ['definition'] } });
    expect(await t.prisma.segment.count({ where: { workspaceId: ws.workspaceId } })).toBe(0);
    const accepted = await ws.gql(SEGMENT, { d: { match: 'all', conditions: [{ list: ownList, op: 'not_in' }] } });
    expect(accepted.errors).toBeUndefined();
  });
});
