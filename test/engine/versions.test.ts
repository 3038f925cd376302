// Editing a live sequence (issue 14), through the GraphQL API with mail at a real
// SMTP server: drafts, a dry run that matches the publish run by run, MOVE and
// KEEP, rollback, refusals, and a publish racing the engine's sends.
import { beforeAll, describe, expect, it } from 'vitest';
import type { ParsedMail } from 'mailparser';
import { decodeId } from '../../src/domain/public-id.js';
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

describe('KEEP, then a rollback', () => {
  it('KEEP leaves open runs on their version’s content; new runs take the new one; a rollback restores the old content for later steps', async () => {
    const id = await api.sequence({ name: 'Keep', trigger: 'MANUAL', steps: [email('K1', { hours: 1 }), email('K2', { days: 1 }), email('K3', { days: 1 })] });
    const old = await enrollMany(id, 'keep-old', 10);
    await advanceAndSettle(t, HOUR);
    // Steps named by id stay the same steps (a step without an id is a new one).
    const [k1, k2, k3] = (await draft(id, {})).sequence.steps;
    const edit = [{ id: k1.id, ...email('K1', { hours: 1 }) }, { id: k2.id, ...email('K2 v2', { days: 1 }) }, { id: k3.id, ...email('K3 v2', { days: 1 }) }];
    expect(await draft(id, { steps: edit })).toMatchObject({ errors: [] });

    const dry = await publish(id, { runs: 'KEEP' });
    expect(dry).toMatchObject({ keptCount: 10, movedCount: 0, unchangedCount: 0, completedCount: 0, moves: [] });
    expect(await publish(id, { runs: 'KEEP', dryRun: false })).toMatchObject({ version: 2, keptCount: 10, errors: [] });
    const fresh = await enrollMany(id, 'keep-new', 5);
    expect((await runsOf(id)).map((r) => [r.subscriber.email.startsWith('keep-new'), r.version]).sort()).toEqual([
      ...Array(10).fill([false, 1]),
      ...Array(5).fill([true, 2]),
    ]);
    await advanceAndSettle(t, HOUR);
    await advanceAndSettle(t, DAY);
    const mail = inbox();
    for (const address of old) expect(mail.get(address)).toEqual(['K1', 'K2']);
    for (const address of fresh) expect(mail.get(address)).toEqual(['K1', 'K2 v2']);

    // Unknown versions are refused; a rollback is a dry run first.
    expect((await rollback(id, 7)).errors).toEqual([expect.objectContaining({ field: ['toVersion'], code: 'UNKNOWN_VERSION' })]);
    const back = await rollback(id, 1);
    // Every run waits on K3 (due from K2 with the same delay): moved to version 3's copy of K3 v1, same time.
    expect(back).toMatchObject({ dryRun: true, version: null, movedCount: 0, unchangedCount: 15, errors: [] });
    expect(await rollback(id, 1, { dryRun: false })).toMatchObject({ version: 3, unchangedCount: 15, errors: [] });
    const seq = await sequenceOf(id);
    expect(seq.steps.map((s: any) => s.subject)).toEqual(['K1', 'K2', 'K3']);
    expect(seq.versions.map((v: any) => [v.number, v.note])).toEqual([
      [1, null],
      [2, null],
      [3, 'rollback to v1'],
    ]);
    await advanceAndSettle(t, DAY);
    await advanceAndSettle(t, DAY);
    const after = inbox();
    for (const address of old) expect(after.get(address)).toEqual(['K1', 'K2', 'K3']);
    for (const address of fresh) expect(after.get(address)).toEqual(['K1', 'K2 v2', 'K3']);
    const runs = await runsOf(id);
    expect(runs.every((r) => r.status === 'COMPLETED' && r.version === 3)).toBe(true);
    const newRun = runs.find((r) => r.subscriber.email === fresh[0]);
    expect(newRun.history.map((h: any) => [h.message.subject, h.version])).toEqual([
      ['K1', 2],
      ['K2 v2', 2],
      ['K3', 3],
    ]);
  }, 120_000);
});

describe('refusals', () => {
  it('refuses with clear codes and writes nothing', async () => {
    const id = await api.sequence({ name: 'Refusals', trigger: 'MANUAL', steps: [email('R1')] });
    for (const input of [{ sendWindow: null }, { primaryReplyAction: 'CONTINUE' }, { transactional: true }]) {
      const res = await gql(`mutation($id: ID!, $input: UpdateSequenceInput!) { updateSequence(id: $id, input: $input) { ${ERRORS} } }`, { id, input });
      expect(res.updateSequence.errors).toEqual([expect.objectContaining({ field: ['input', Object.keys(input)[0]], code: 'USE_DRAFT' })]);
    }
    // Names and tags are not part of a version: edited on the live sequence, refused in a draft.
    expect((await api.update(id, { name: 'Renamed' })).sequence).toMatchObject({ id });
    expect((await draft(id, { name: 'X' })).errors).toEqual([expect.objectContaining({ field: ['input', 'name'], code: 'NOT_VERSIONED' })]);
    // A draft that empties the sequence cannot be published; discarding the draft leaves the live one as it was.
    expect((await draft(id, { steps: [] })).errors).toEqual([]);
    expect((await publish(id, { dryRun: false })).errors).toEqual([expect.objectContaining({ field: ['id'], code: 'NO_STEPS' })]);
    const discarded = (await gql(Q.discard, { id })).discardSequenceDraft;
    expect(discarded).toMatchObject({ sequence: { id, hasDraft: false }, errors: [] });
    expect((await gql(Q.discard, { id })).discardSequenceDraft.errors).toEqual([expect.objectContaining({ code: 'NO_DRAFT' })]);
    expect(await sequenceOf(id)).toMatchObject({ version: 1, steps: [{ subject: 'R1' }] });
    // A never-enabled sequence is edited directly; a draft row is not a sequence of its own.
    const fresh = await api.sequence({ name: 'Not live', trigger: 'MANUAL', steps: [email('N')] }, { enable: false });
    expect((await draft(fresh, { steps: [email('N2')] })).errors).toEqual([expect.objectContaining({ code: 'NOT_LIVE' })]);
    const draftId = (await draft(id, { steps: [email('R2')] })).sequence.id;
    expect((await gql(`mutation($id: ID!) { enableSequence(id: $id) { ${ERRORS} } }`, { id: draftId })).enableSequence.errors).toEqual([
      expect.objectContaining({ code: 'IS_DRAFT' }),
    ]);
    const listed = await gql(`{ sequences(first: 100) { edges { node { id } } } }`, {});
    expect(listed.sequences.edges.map((e: any) => e.node.id)).not.toContain(draftId);
    // The draft is simulated and previewed like any saved sequence.
    const simulated = await gql(`mutation($input: SimulateSequenceInput!) { simulateSequence(input: $input) { finalStatus timeline { step { subject } } ${ERRORS} } }`, {
      input: { sequenceId: draftId },
    });
    expect(simulated.simulateSequence).toMatchObject({ errors: [], finalStatus: 'COMPLETED' });
    expect(simulated.simulateSequence.timeline.flatMap((e: any) => (e.step ? [e.step.subject] : []))).toContain('R2');
    const preview = await gql(`query($id: ID!) { previewSequence(sequenceId: $id) { subject } }`, { id: draftId });
    expect(preview.previewSequence.map((p: any) => p.subject)).toEqual(['R2']);
    // A locked sequence is not published (its dry run still answers).
    await gql(`mutation($id: ID!) { lockSequence(id: $id) { ${ERRORS} } }`, { id });
    expect((await publish(id)).errors).toEqual([]);
    expect((await publish(id, { dryRun: false })).errors).toEqual([expect.objectContaining({ code: 'SEQUENCE_LOCKED' })]);
    expect(await sequenceOf(id)).toMatchObject({ version: 1, steps: [{ subject: 'R1' }] });
  });
});

describe('a publish racing the engine', () => {
  it('every step is sent exactly once, recorded with the version it was sent from', async () => {
    const id = await api.sequence({ name: 'Race', trigger: 'MANUAL', steps: [email('S1'), email('S2', { days: 1 }), email('S3', { days: 1 })] });
    // Two cohorts an hour apart: the first's S2 falls due while the publish runs, the second's after it.
    const early = await enrollMany(id, 'race-early', 40);
    await advanceAndSettle(t, HOUR);
    const late = await enrollMany(id, 'race-late', 20);
    await settle(t);
    const [s1, s2, s3] = (await draft(id, {})).sequence.steps;
    const edit = [{ id: s1.id, ...email('S1') }, { id: s2.id, ...email('S2 v2', { days: 1 }) }, { id: s3.id, ...email('S3 v2', { days: 1 }) }];
    expect((await draft(id, { steps: edit })).errors).toEqual([]);
    // The publish starts as the first S2 reaches the relay, which holds each message
    // a while: sends claimed on version 1 are in flight while it commits.
    t.smtp.delayMs = 300;
    let arriving!: () => void;
    const firstS2 = new Promise<void>((resolve) => (arriving = resolve));
    t.smtp.onIncoming = () => arriving();
    await t.advance(DAY - HOUR / 2);
    await firstS2;
    const published = await publish(id, { dryRun: false, limit: 0 });
    t.smtp.onIncoming = undefined;
    t.smtp.delayMs = 0;
    expect(published).toMatchObject({ version: 2, errors: [] });
    await advanceAndSettle(t, HOUR);
    await advanceAndSettle(t, DAY);
    await advanceAndSettle(t, DAY);

    const mail = inbox();
    const runs = await runsOf(id);
    expect(runs.map((r) => r.status)).toEqual(Array(60).fill('COMPLETED'));
    // The email that started the publish was sent on version 1; the later cohort's on version 2.
    expect(early.some((address) => mail.get(address)![1] === 'S2')).toBe(true);
    for (const address of late) expect(mail.get(address)![1]).toBe('S2 v2');
    for (const address of [...early, ...late]) {
      const subjects = mail.get(address)!;
      expect(subjects).toHaveLength(3);
      expect(subjects[0]).toBe('S1');
      expect(['S2', 'S2 v2']).toContain(subjects[1]);
      expect(subjects[2]).toBe('S3 v2');
      // The step run names the version whose content was sent.
      const run = runs.find((r) => r.subscriber.email === address);
      expect(run.history.map((h: any) => [h.message.subject, h.version])).toEqual([
        ['S1', 1],
        [subjects[1], subjects[1] === 'S2' ? 1 : 2],
        ['S3 v2', 2],
      ]);
    }
  }, 120_000);
});

describe('runs with nothing left', () => {
  it('a publish completes them, logged with the reason "published vN"', async () => {
    const id = await api.sequence({ name: 'Shorter', trigger: 'MANUAL', steps: [email('X1'), email('X2', { days: 1 })] });
    await enrollMany(id, 'shorter', 3);
    await settle(t);
    const [x1] = (await draft(id, {})).sequence.steps;
    expect((await draft(id, { steps: [{ id: x1.id, ...email('X1') }] })).errors).toEqual([]);
    const dry = await publish(id);
    expect(dry).toMatchObject({ completedCount: 3, movedCount: 0 });
    expect(dry.moves.map((m: any) => [m.outcome, m.fromStep.position, m.toStep, m.dueAfter])).toEqual(Array(3).fill(['COMPLETED', 2, null, null]));
    const done = await publish(id, { dryRun: false });
    expect(done.moves.map(moveKey)).toEqual(dry.moves.map(moveKey));
    const runs = await runsOf(id);
    expect(runs.map((r) => [r.status, r.version])).toEqual(Array(3).fill(['COMPLETED', 2]));
    const changes = await t.prisma.enrollmentChange.findMany({ where: { enrollmentId: { in: runs.map((r) => decodeId('Enrollment', r.id, [])) } } });
    expect(changes.filter((c) => c.status === 'COMPLETED').map((c) => [c.previousStatus, c.reason])).toEqual(Array(3).fill(['ACTIVE', 'published v2']));
    await advanceAndSettle(t, 2 * DAY);
    for (const address of ['shorter-0', 'shorter-1', 'shorter-2']) expect(inbox().get(`${address}@versions.test`)).toEqual(['X1']);
  });
});
