// Editing a live sequence (issue 14), through the GraphQL API with mail at a real
// SMTP server: drafts, a dry run that matches the publish run by run, MOVE and
// KEEP, rollback, refusals, and a publish racing the engine's sends.
import { beforeAll, describe, expect, it } from 'vitest';
import type { ParsedMail } from 'mailparser';
import { useTestEngine } from '../helpers/engine.js';
import { advanceAndSettle, DAY, email, engineApi, HOUR, recipient, settle } from './support.js';

const t = await useTestEngine();
let ws: Awaited<ReturnType<typeof t.workspace>>;
let api: ReturnType<typeof engineApi>;
beforeAll(async () => {
  ws = await t.workspace();
  api = engineApi(t, ws);
});

const ERRORS = 'errors { field message code }';
const STEP = 'id position version subject delay { days hours minutes }';
const MOVES = `dryRun version movedCount keptCount completedCount unchangedCount hasMore
  moves { enrollment { id } fromStep { id position } toStep { id position subject } dueBefore dueAfter outcome } ${ERRORS}`;
const Q = {
  draft: `mutation($id: ID!, $input: UpdateSequenceInput!) { editSequenceDraft(id: $id, input: $input) {
    sequence { id status draftOf { id } steps { ${STEP} } } ${ERRORS} } }`,
  discard: `mutation($id: ID!) { discardSequenceDraft(id: $id) { sequence { id hasDraft } ${ERRORS} } }`,
  publish: `mutation($id: ID!, $input: PublishSequenceInput) { publishSequence(id: $id, input: $input) { ${MOVES} } }`,
  rollback: `mutation($id: ID!, $v: Int!, $input: PublishSequenceInput) { rollbackSequence(id: $id, toVersion: $v, input: $input) { ${MOVES} } }`,
  sequence: `query($id: ID!) { sequence(id: $id) { version hasDraft draft { id } steps { ${STEP} }
    versions { number note stepCount steps { id position subject } stats { sent enrolled active } } } }`,
  runs: `query($id: ID!) { sequence(id: $id) { enrollments(first: 500) { edges { node {
    id status version currentStepPosition nextTriggerAt subscriber { email }
    history { version status step { position subject } message { subject } } } } } } }`,
};

async function gql(query: string, variables: Record<string, unknown>) {
  const res = await ws.gql(query, variables);
  expect(res.errors, JSON.stringify(res.errors)).toBeUndefined();
  return res.data;
}
const draft = async (id: string, input: Record<string, unknown>) => (await gql(Q.draft, { id, input })).editSequenceDraft;
const publish = async (id: string, input: Record<string, unknown> = {}) => (await gql(Q.publish, { id, input })).publishSequence;
const rollback = async (id: string, v: number, input: Record<string, unknown> = {}) => (await gql(Q.rollback, { id, v, input })).rollbackSequence;
const sequenceOf = async (id: string) => (await gql(Q.sequence, { id })).sequence;
async function runsOf(id: string) {
  return ((await gql(Q.runs, { id })).sequence.enrollments.edges as { node: any }[]).map((e) => e.node);
}

async function enrollMany(sequenceId: string, prefix: string, n: number): Promise<string[]> {
  const emails = Array.from({ length: n }, (_, i) => `${prefix}-${i}@versions.test`);
  for (const address of emails) await api.enroll({ sequenceId, subscriber: { email: address } });
  return emails;
}

/** Subjects each address received, in arrival order. */
function inbox(): Map<string, string[]> {
  const byAddress = new Map<string, string[]>();
  for (const mail of t.smtp.messages as ParsedMail[]) {
    const to = recipient(mail);
    byAddress.set(to, [...(byAddress.get(to) ?? []), mail.subject ?? '']);
  }
  return byAddress;
}

/** What a move says about a run, comparable between a dry run and the publish. */
const moveKey = (m: any) => ({ run: m.enrollment.id, outcome: m.outcome, from: m.fromStep?.position, to: m.toStep?.subject, dueAfter: m.dueAfter });

describe('publishing a draft of a live sequence with runs in flight (MOVE)', () => {
  it('moves 100 runs as the dry run said, never sends a step twice, and names the version of each send', async () => {
    const id = await api.sequence({
      name: 'Onboarding',
      trigger: 'MANUAL',
      steps: [email('A', { hours: 1 }), email('B', { days: 2 }), email('C', { days: 2 }), email('D', { days: 2 })],
    });
    // 25 runs waiting on each of the 4 steps.
    const g4 = await enrollMany(id, 'g4', 25);
    await advanceAndSettle(t, HOUR);
    await advanceAndSettle(t, 2 * DAY);
    const g3 = await enrollMany(id, 'g3', 25);
    await advanceAndSettle(t, HOUR);
    await advanceAndSettle(t, 2 * DAY);
    const g2 = await enrollMany(id, 'g2', 25);
    await advanceAndSettle(t, HOUR);
    const g1 = await enrollMany(id, 'g1', 25);
    await settle(t);
    const before = await runsOf(id);
    const positionOf = (address: string) => before.find((r) => r.subscriber.email === address).currentStepPosition;
    expect([g1, g2, g3, g4].map((g) => g.map(positionOf))).toEqual([1, 2, 3, 4].map((p) => Array(25).fill(p)));

    // Step edits on the live sequence are refused with a code pointing to the draft.
    const refused = await gql(`mutation($id: ID!) { updateSequence(id: $id, input: { steps: [] }) { ${ERRORS} } }`, { id });
    expect(refused.updateSequence.errors).toEqual([expect.objectContaining({ field: ['input', 'steps'], code: 'USE_DRAFT' })]);
    // Publishing needs a draft.
    expect((await publish(id)).errors).toEqual([expect.objectContaining({ field: ['id'], code: 'NO_DRAFT' })]);

    // The draft: remove B, change C's delay and content, add E.
    const live = await sequenceOf(id);
    const [a, , c, d] = (await draft(id, {})).sequence.steps;
    expect(a.id).not.toBe(live.steps[0].id);
    const edited = await draft(id, {
      steps: [
        { id: a.id, ...email('A', { hours: 1 }) },
        { id: c.id, ...email('C v2', { days: 1 }) },
        { id: d.id, ...email('D', { days: 2 }) },
        email('E', { days: 1 }),
      ],
    });
    expect(edited.errors).toEqual([]);
    expect(edited.sequence).toMatchObject({ status: 'DRAFT', draftOf: { id } });
    // Runs never see the draft.
    expect((await sequenceOf(id)).steps.map((s: any) => s.subject)).toEqual(['A', 'B', 'C', 'D']);

    const dry = await publish(id, { limit: 200 });
    expect(dry).toMatchObject({ dryRun: true, version: null, movedCount: 50, unchangedCount: 50, completedCount: 0, keptCount: 0, hasMore: false, errors: [] });
    const short = await publish(id, { limit: 10 });
    expect(short.moves).toHaveLength(10);
    expect(short.hasMore).toBe(true);
    // Runs waiting on B go to C at the time recomputed from their last send (A) with C's new delay.
    for (const move of dry.moves.filter((m: any) => m.fromStep.position === 2)) {
      expect(move).toMatchObject({ outcome: 'MOVED', toStep: { position: 2, subject: 'C v2' } });
    }
    expect(dry.moves.filter((m: any) => m.fromStep.position === 2)).toHaveLength(25);
    expect(dry.moves.filter((m: any) => m.fromStep.position === 3)).toHaveLength(25);
    expect(t.smtp.messages.length).toBe(25 * 3 + 25 * 2 + 25); // g4: A B C, g3: A B, g2: A, g1: nothing yet

    const published = await publish(id, { dryRun: false, limit: 200, note: 'Drop B, faster C, add E' });
    expect(published).toMatchObject({ dryRun: false, version: 2, movedCount: 50, unchangedCount: 50, completedCount: 0, errors: [] });
    expect(published.moves.map(moveKey)).toEqual(dry.moves.map(moveKey));

    // Each run is where the plan put it.
    const after = await runsOf(id);
    for (const move of published.moves) {
      const run = after.find((r) => r.id === move.enrollment.id);
      expect(run).toMatchObject({ version: 2, currentStepPosition: move.toStep.position, nextTriggerAt: move.dueAfter });
    }
    expect(after.every((r) => r.version === 2)).toBe(true);
    const seq = await sequenceOf(id);
    expect(seq).toMatchObject({ version: 2, hasDraft: false, draft: null });
    expect(seq.steps.map((s: any) => [s.position, s.subject, s.version])).toEqual([
      [1, 'A', 2],
      [2, 'C v2', 2],
      [3, 'D', 2],
      [4, 'E', 2],
    ]);
    expect(seq.versions.map((v: any) => [v.number, v.note, v.stepCount])).toEqual([
      [1, null, 4],
      [2, 'Drop B, faster C, add E', 4],
    ]);
    expect(seq.versions[0].steps.map((s: any) => s.subject)).toEqual(['A', 'B', 'C', 'D']);

    // Run everything to the end.
    for (let i = 0; i < 8; i++) await advanceAndSettle(t, DAY);
    const done = await runsOf(id);
    expect(done.map((r) => r.status)).toEqual(Array(100).fill('COMPLETED'));
    const mail = inbox();
    const expected = { g1: ['A', 'C v2', 'D', 'E'], g2: ['A', 'C v2', 'D', 'E'], g3: ['A', 'B', 'C v2', 'D', 'E'], g4: ['A', 'B', 'C', 'D', 'E'] };
    for (const [group, subjects] of Object.entries(expected)) {
      for (let i = 0; i < 25; i++) expect(mail.get(`${group}-${i}@versions.test`), `${group}-${i}`).toEqual(subjects);
    }
    // History names the version each step was sent from.
    const g4run = done.find((r) => r.subscriber.email === 'g4-0@versions.test');
    expect(g4run.history.map((h: any) => [h.message.subject, h.version])).toEqual([
      ['A', 1],
      ['B', 1],
      ['C', 1],
      ['D', 2],
      ['E', 2],
    ]);
    const stats = (await sequenceOf(id)).versions.map((v: any) => v.stats);
    expect(stats[0].sent + stats[1].sent).toBe(t.smtp.messages.length);
    expect(stats[1]).toMatchObject({ enrolled: 100, active: 0 });
  }, 240_000);
});
