// Tenant scope: with another workspace's key, every node type, every typed
// lookup and every mutation that takes an ID finds nothing of ours — NOT_FOUND
// or null, never our data, never a change to it. The mutations and their ID
// arguments are read from the schema, so a new one cannot be forgotten: an ID
// argument whose type this file cannot tell fails the test until it is mapped.
import {
  getNamedType,
  isEnumType,
  isInputObjectType,
  isListType,
  isNonNullType,
  isObjectType,
  isScalarType,
  type GraphQLField,
  type GraphQLInputType,
  type GraphQLOutputType,
} from 'graphql';
import { describe, expect, it } from 'vitest';
import { encodeId, parseId, type IdType } from '../../src/domain/public-id.js';
import { schema } from '../../src/graphql/schema.js';
import { useTestApp } from '../helpers/app.js';

const t = await useTestApp();

type Ids = Record<'Sequence' | 'Step' | 'Subscriber' | 'Enrollment' | 'Event' | 'List' | 'Segment' | 'Message', string>;

/** A workspace with one row of every node type. */
async function populate(name: string): Promise<{ ws: Awaited<ReturnType<typeof t.workspace>>; ids: Ids; notLive: string }> {
  const ws = await t.workspace(name);
  const res = await ws.gql(`mutation {
    l: createList(name: "Members") { id }
    s: upsertSubscriber(input: { email: "owner@${name}.test", tags: ["vip"] }) { subscriber { id } }
    q: createSequence(input: { name: "Seq", trigger: MANUAL, steps: [{ subject: "Hi", blocks: [{ type: "text", text: "x" }] }] }) { sequence { id steps { id } } }
    n: createSequence(input: { name: "Not live", trigger: MANUAL }) { sequence { id } }
  }`);
  expect(res.errors).toBeUndefined();
  const sequence = res.data.q.sequence;
  const seg = await ws.gql(`mutation { createSegment(name: "VIPs", definition: { match: "all", conditions: [{ tag: "vip" }] }) { id } }`);
  await ws.gql(`mutation($id: ID!) { enableSequence(id: $id) { errors { code } } }`, { id: sequence.id });
  const run = await ws.gql(
    `mutation($s: ID!) { enrollSubscriber(input: { sequenceId: $s, subscriber: { email: "owner@${name}.test" } }) { enrollment { id } errors { code } } }`,
    { s: sequence.id },
  );
  const event = await ws.gql(`mutation { trackEvent(input: { email: "owner@${name}.test", event: "seen" }) { event { id } errors { code } } }`);
  const uuid = (id: string) => parseId(id)!.uuid;
  // A message as the engine would record it for the run's first step.
  const message = await t.prisma.message.create({
    data: {
      workspaceId: ws.workspaceId,
      enrollmentId: uuid(run.data.enrollSubscriber.enrollment.id),
      stepId: uuid(sequence.steps[0].id),
      subscriberId: uuid(res.data.s.subscriber.id),
      to: `owner@${name}.test`,
      subject: 'Hi',
      html: '<p>x</p>',
      smtpMessageId: `<${name}@tenant.test>`,
    },
  });
  return {
    ws,
    // Steps are edited directly only before a sequence goes live (then through its draft).
    notLive: res.data.n.sequence.id,
    ids: {
      Sequence: sequence.id,
      Step: sequence.steps[0].id,
      Subscriber: res.data.s.subscriber.id,
      Enrollment: run.data.enrollSubscriber.enrollment.id,
      Event: event.data.trackEvent.event.id,
      List: res.data.l.id,
      Segment: seg.data.createSegment.id,
      Message: encodeId('Message', message.id),
    },
  };
}

const owner = await populate('owner');
const intruder = await populate('intruder');
const ownerIds = Object.values(owner.ids);

/** Everything of the owner's workspace, to prove nothing changed. */
async function snapshot() {
  const workspaceId = owner.ws.workspaceId;
  const where = { workspaceId };
  return JSON.stringify(
    await Promise.all([
      t.prisma.sequence.findMany({ where, orderBy: { id: 'asc' } }),
      t.prisma.step.findMany({ where: { sequence: where }, orderBy: { id: 'asc' } }),
      t.prisma.subscriber.findMany({ where, orderBy: { id: 'asc' }, include: { tags: true, lists: true, segments: true } }),
      t.prisma.enrollment.findMany({ where, orderBy: { id: 'asc' } }),
      t.prisma.event.findMany({ where, orderBy: { id: 'asc' } }),
      t.prisma.list.findMany({ where, orderBy: { id: 'asc' } }),
      t.prisma.segment.findMany({ where, orderBy: { id: 'asc' } }),
      t.prisma.message.findMany({ where, orderBy: { id: 'asc' } }),
    ]),
    (_k, v) => (typeof v === 'bigint' ? v.toString() : v),
  );
}

/** No node of the owner's workspace in the data of a response (an input echoed back is not one). */
function ownerNodesIn(data: unknown): string[] {
  const text = JSON.stringify(data ?? null);
  return ownerIds.filter((id) => text.includes(`"id":"${id}"`));
}

describe('node lookups with another workspace key', () => {
  it('node(id:) and nodes(ids:) give null for every node type', async () => {
    for (const [type, id] of Object.entries(owner.ids)) {
      const one = await intruder.ws.gql(`query($id: ID!) { node(id: $id) { __typename id } }`, { id });
      expect({ type, node: one.data?.node, errors: one.errors }).toEqual({ type, node: null, errors: undefined });
      // The owner does find it, so the null above is the scope, not a missing row.
      const own = await owner.ws.gql(`query($id: ID!) { node(id: $id) { __typename id } }`, { id });
      expect(own.data.node).toEqual({ __typename: type, id });
    }
    const many = await intruder.ws.gql(`query($ids: [ID!]!) { nodes(ids: $ids) { id } }`, { ids: ownerIds });
    expect(many.data.nodes).toEqual(ownerIds.map(() => null));
  });

  it('every typed query taking an id gives null or NOT_FOUND', async () => {
    const fields = Object.values(schema.getQueryType()!.getFields()).filter((f) => f.args.some((a) => a.name === 'id' && getNamedType(a.type).name === 'ID'));
    expect(fields.map((f) => f.name).sort()).toEqual(expect.arrayContaining(['enrollment', 'sequence', 'subscriber']));
    for (const field of fields) {
      for (const id of ownerIds) {
        const r = await intruder.ws.gql(`query($id: ID!) { result: ${field.name}(id: $id) { __typename } }`, { id });
        const code = r.errors?.[0]?.extensions?.code;
        // A wrong-type ID is INVALID_ID; the right type is simply not there.
        if (parseId(id)!.type.toLowerCase() === field.name.toLowerCase()) expect({ field: field.name, r }).toEqual({ field: field.name, r: { data: { result: null } } });
        else expect(['INVALID_ID', undefined]).toContain(code);
      }
    }
  });
});

// --------------------------------------------------------------- mutations

/** Which node type an ID argument names, from its name (and the mutation's for a bare `id`). */
function idTypeOf(mutation: string, path: string[]): IdType | null {
  const name = path.at(-1)!;
  const byName: Record<string, IdType> = {
    subscriberId: 'Subscriber',
    listId: 'List',
    listIds: 'List',
    segmentId: 'Segment',
    sequenceId: 'Sequence',
    messageId: 'Message',
    enrollmentId: 'Enrollment',
    executionId: 'Enrollment',
    executionIds: 'Enrollment',
  };
  if (byName[name]) return byName[name]!;
  if (name === 'id' && path.length === 1) {
    if (/Sequence(Draft)?$/.test(mutation)) return 'Sequence';
    if (/Enrollment$/.test(mutation)) return 'Enrollment';
  }
  if (name === 'id' && path.includes('steps')) return 'Step';
  return null;
}

/** Paths to every ID-typed argument or input field, up to three levels deep. */
function idPaths(field: GraphQLField<unknown, unknown>): string[][] {
  const paths: string[][] = [];
  const walk = (type: GraphQLInputType, path: string[], depth: number) => {
    const named = getNamedType(type);
    if (isScalarType(named) && named.name === 'ID') paths.push(path);
    if (isInputObjectType(named) && depth < 3) {
      for (const f of Object.values(named.getFields())) walk(f.type, [...path, f.name], depth + 1);
    }
  };
  for (const arg of field.args) walk(arg.type, [arg.name], 0);
  return paths;
}

/** A minimal valid value of `type`; the ID at `target` is `id`, other IDs are the intruder's own. */
function valueOf(mutation: string, type: GraphQLInputType, path: string[], target: string[], id: string, forced: boolean): unknown {
  const required = isNonNullType(type);
  const inner = isNonNullType(type) ? type.ofType : type;
  const onTarget = target.slice(0, path.length).join('.') === path.join('.');
  if (!required && !onTarget && !forced) return undefined;
  if (isListType(inner)) {
    const item = valueOf(mutation, inner.ofType, path, target, id, true);
    return item === undefined ? [] : [item];
  }
  if (isInputObjectType(inner)) {
    const out: Record<string, unknown> = {};
    for (const f of Object.values(inner.getFields())) {
      const value = valueOf(mutation, f.type, [...path, f.name], target, id, false);
      if (value !== undefined) out[f.name] = value;
    }
    return out;
  }
  if (isEnumType(inner)) return ({ trigger: 'MANUAL' } as Record<string, string>)[path.at(-1)!] ?? inner.getValues()[0]!.name;
  const name = path.at(-1)!;
  switch (inner.name) {
    case 'ID': {
      if (onTarget && target.length === path.length) return id;
      const own = idTypeOf(mutation, path);
      if (!own) throw new Error(`${mutation}: cannot tell what the ID argument ${path.join('.')} names; map it in idTypeOf`);
      return intruder.ids[own as keyof Ids];
    }
    case 'String':
      return name === 'email' ? 'intruder@intruder.test' : name === 'event' ? 'seen' : 'x';
    case 'Int':
    case 'Float':
      return 1;
    case 'Boolean':
      return false;
    case 'DateTime':
      return new Date().toISOString();
    default:
      return {};
  }
}

/** What a call needs besides its required fields to get past validation to the lookup under test. */
function extras(mutation: string, target: string): Record<string, unknown> {
  const step = { subject: 'x', blocks: [{ type: 'text', text: 'x' }] };
  const subscriber = { email: 'intruder@intruder.test' };
  const simulated = { sequenceId: intruder.ids.Sequence, subscriber };
  const byTarget: Record<string, Record<string, unknown>> = {
    'cancelEnrollments:input.sequenceId': { input: { subscriberId: intruder.ids.Subscriber } },
    'createSequence:input.listId': { input: { trigger: 'CONTACT_ADDED' } },
    'createSequence:input.segmentId': { input: { trigger: 'SEGMENT_ENTERED' } },
    'createSequence:input.steps.id': { input: { steps: [step] } },
    'updateSequence:input.steps.id': { id: intruder.notLive, input: { steps: [step] } },
    'editSequenceDraft:input.steps.id': { input: { steps: [step] } },
    // A simulation needs a sequence and a subscriber of its own besides the ID under test.
    'simulateSequence:input.happenings.listId': { input: { ...simulated, happenings: [{ after: 'PT1H', kind: 'LIST_ADDED' }] } },
    'simulateSequence:input.sequence.listId': { input: { sequence: { trigger: 'CONTACT_ADDED' }, subscriber } },
    'simulateSequence:input.sequence.segmentId': { input: { sequence: { trigger: 'SEGMENT_ENTERED' }, subscriber } },
    'simulateSequence:input.sequence.steps.id': { input: { sequence: { steps: [step] }, subscriber } },
    'simulateSequence:input.subscriber.listIds': { input: { sequenceId: intruder.ids.Sequence } },
    'simulateSequence:input.subscriberId': { input: { sequenceId: intruder.ids.Sequence } },
  };
  return byTarget[`${mutation}:${target}`] ?? {};
}

function deepMerge(into: Record<string, unknown>, from: Record<string, unknown>) {
  for (const [key, value] of Object.entries(from)) {
    const current = into[key];
    if (Array.isArray(value) && Array.isArray(current)) value.forEach((v, i) => (current[i] = { ...(current[i] as object), ...(v as object) }));
    else if (value && typeof value === 'object' && current && typeof current === 'object') deepMerge(current as Record<string, unknown>, value as Record<string, unknown>);
    else into[key] = value;
  }
}

/** Fields to select on a payload: scalars, errors, and the id of every node in it. */
function selectionOf(type: GraphQLOutputType, depth = 0): string {
  const named = getNamedType(type);
  if (!isObjectType(named)) return '';
  const parts = ['__typename'];
  for (const f of Object.values(named.getFields())) {
    if (f.args.some((a) => isNonNullType(a.type))) continue;
    const inner = getNamedType(f.type);
    if (isScalarType(inner) || isEnumType(inner)) parts.push(f.name);
    else if (isObjectType(inner) && depth < 1) parts.push(`${f.name} { ${selectionOf(inner, depth + 1)} }`);
  }
  return parts.join(' ');
}

describe('mutations with another workspace key', () => {
  it('every mutation taking an ID refuses the other workspace ID with NOT_FOUND (or matches nothing) and changes nothing', async () => {
    const before = await snapshot();
    const mutations = Object.values(schema.getMutationType()!.getFields());
    const checked: string[] = [];
    const problems: unknown[] = [];
    for (const field of mutations) {
      for (const target of idPaths(field)) {
        const type = idTypeOf(field.name, target);
        expect(type, `${field.name}: cannot tell what the ID argument ${target.join('.')} names; map it in idTypeOf`).not.toBeNull();
        const id = owner.ids[type as keyof Ids];
        const variables: Record<string, unknown> = {};
        for (const arg of field.args) {
          const value = valueOf(field.name, arg.type, [arg.name], target, id, false);
          if (value !== undefined) variables[arg.name] = value;
        }
        deepMerge(variables, extras(field.name, target.join('.')));
        const defs = field.args.filter((a) => a.name in variables).map((a) => `$${a.name}: ${a.type.toString()}`);
        const args = field.args.filter((a) => a.name in variables).map((a) => `${a.name}: $${a.name}`);
        const query = `mutation${defs.length ? `(${defs.join(', ')})` : ''} { result: ${field.name}(${args.join(', ')}) { ${selectionOf(field.type)} } }`;
        const r = await intruder.ws.gql(query, variables);
        const label = `${field.name}(${target.join('.')} = ${type})`;
        const payloadCodes = JSON.stringify(r.data ?? {}).match(/"code":"[A-Z_]+"/g) ?? [];
        const codes = [...payloadCodes.map((c) => c.slice(8, -1)), ...(r.errors ?? []).map((e) => String(e.extensions?.code))];
        // Filters (cancelRuns' executionIds) match nothing instead of refusing; all else is NOT_FOUND.
        const matchedNothing = !codes.length && /"(cancelledCount|matchedCount)":0|"executionIds":\[\]/.test(JSON.stringify(r.data ?? {}));
        const leaked = ownerNodesIn(r.data);
        if (!(codes.includes('NOT_FOUND') || matchedNothing) || leaked.length) problems.push({ label, codes, leaked, data: r.data, errors: r.errors });
        checked.push(label);
      }
    }
    expect(problems).toEqual([]);
    // Every mutation of the schema that takes an ID was tried.
    const withIds = mutations.filter((f) => idPaths(f).length).map((f) => f.name);
    expect(new Set(checked.map((c) => c.split('(')[0]))).toEqual(new Set(withIds));
    expect(withIds.length).toBeGreaterThanOrEqual(15);
    expect(await snapshot()).toBe(before);
  });
});
