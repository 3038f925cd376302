// Outreach's sequence object through the GraphQL API: secondary reply action,
// finishOnReply, locking, throttlePausedAt, the descriptive fields, the counts and
// the 255-character names.
import { beforeAll, describe, expect, it } from 'vitest';
import { useTestEngine } from '../helpers/engine.js';
import { DAY, advanceAndSettle, email, engineApi } from '../engine/support.js';

const t = await useTestEngine();
let api: ReturnType<typeof engineApi>;
beforeAll(async () => {
  api = engineApi(t, await t.workspace());
});

const ERRORS = 'errors { field message code }';
const FIELDS = `id name description tags primaryReplyAction secondaryReplyAction secondaryReplyPauseDuration finishOnReply
  locked lockedAt throttlePaused throttlePausedAt shareType salesMotion scheduleIntervalType
  scheduleCount automationPercentage numContactedProspects numRepliedProspects`;
const CREATE = `mutation($input: CreateSequenceInput!) { createSequence(input: $input) { sequence { ${FIELDS} } ${ERRORS} } }`;
const UPDATE = `mutation($id: ID!, $input: UpdateSequenceInput!) { updateSequence(id: $id, input: $input) { sequence { ${FIELDS} } ${ERRORS} } }`;
const LOCK = `mutation($id: ID!) { lockSequence(id: $id) { message sequence { ${FIELDS} } ${ERRORS} } }`;
const UNLOCK = `mutation($id: ID!) { unlockSequence(id: $id) { sequence { ${FIELDS} } ${ERRORS} } }`;
const ARCHIVE = `mutation($id: ID!) { archiveSequence(id: $id) { sequence { id status } ${ERRORS} } }`;
const GET = `query($id: ID!) { sequence(id: $id) { ${FIELDS} } }`;

const gql = async (query: string, variables: Record<string, unknown>) => {
  const res = await api.ws.gql(query, variables);
  expect(res.errors, JSON.stringify(res.errors)).toBeUndefined();
  return res.data;
};
const get = async (id: string) => (await gql(GET, { id })).sequence;

describe('descriptive fields and limits', () => {
  it('takes shareType, salesMotion, scheduleIntervalType, description, tags; defaults match Outreach', async () => {
    const name = 'N'.repeat(255);
    const created = (
      await gql(CREATE, {
        input: { name, trigger: 'MANUAL', description: 'd'.repeat(1024), tags: ['q4', 'q4', 'emea'], shareType: 'PRIVATE', salesMotion: 'outbound' },
      })
    ).createSequence;
    expect(created.errors).toEqual([]);
    expect(created.sequence).toMatchObject({
      name,
      tags: ['q4', 'emea'],
      shareType: 'PRIVATE',
      salesMotion: 'outbound',
      scheduleIntervalType: 'CALENDAR',
      primaryReplyAction: 'FINISH',
      finishOnReply: true,
      secondaryReplyAction: 'CONTINUE',
      locked: false,
      lockedAt: null,
      throttlePausedAt: null,
      scheduleCount: 0,
      automationPercentage: 0,
    });
    const updated = (await gql(UPDATE, { id: created.sequence.id, input: { scheduleIntervalType: 'SCHEDULE', shareType: 'READ_ONLY', primaryReplyAction: 'CONTINUE' } }))
      .updateSequence.sequence;
    expect(updated).toMatchObject({ scheduleIntervalType: 'SCHEDULE', shareType: 'READ_ONLY', finishOnReply: false });
  });

  it('refuses a 256-character name, a 1,025-character description, and a PAUSE without its duration', async () => {
    const res = (
      await gql(CREATE, {
        input: { name: 'N'.repeat(256), trigger: 'MANUAL', description: 'd'.repeat(1025), secondaryReplyAction: 'PAUSE' },
      })
    ).createSequence;
    expect(res.sequence).toBeNull();
    expect(res.errors.map((e: any) => e.field.join('.'))).toEqual(
      expect.arrayContaining(['input.name', 'input.description', 'input.secondaryReplyPauseDuration']),
    );
  });
});

describe('lockSequence', () => {
  it('a locked sequence refuses edits and archiving with SEQUENCE_LOCKED, writing nothing; unlocking allows them again', async () => {
    const id = await api.sequence({ name: 'Lockable', trigger: 'MANUAL', steps: [email('L')] }, { enable: false });
    const locked = (await gql(LOCK, { id })).lockSequence;
    expect(locked).toMatchObject({ message: 'Sequence locked.', errors: [], sequence: { locked: true } });
    const lockedAt = locked.sequence.lockedAt;
    expect(lockedAt).not.toBeNull();
    // Locking again keeps the first time.
    expect((await gql(LOCK, { id })).lockSequence.sequence.lockedAt).toBe(lockedAt);

    const edit = (await gql(UPDATE, { id, input: { name: 'Changed', steps: [email('X')] } })).updateSequence;
    expect(edit.sequence).toBeNull();
    expect(edit.errors).toEqual([
      { field: ['id'], message: 'The sequence is locked; unlock it (unlockSequence) before editing it', code: 'SEQUENCE_LOCKED' },
    ]);
    const archive = (await gql(ARCHIVE, { id })).archiveSequence;
    expect(archive.errors[0].code).toBe('SEQUENCE_LOCKED');
    const row = await t.prisma.sequence.findFirstOrThrow({ where: { name: 'Lockable' }, include: { steps: true } });
    expect(row.status).toBe('DRAFT');
    expect(row.steps.map((s) => s.subject)).toEqual(['L']);

    // A locked sequence still runs: enabling is not an edit of its definition.
    await api.enable(id);
    const unlocked = (await gql(UNLOCK, { id })).unlockSequence.sequence;
    expect(unlocked).toMatchObject({ locked: false, lockedAt: null });
    expect((await gql(UPDATE, { id, input: { name: 'Changed' } })).updateSequence.sequence.name).toBe('Changed');
  });
});

describe('throttlePausedAt', () => {
  it('is set when the throttle is paused, kept while paused, cleared when lifted', async () => {
    const id = await api.sequence({ name: 'Throttle', trigger: 'MANUAL', steps: [email('T')] }, { enable: false });
    const paused = (await gql(UPDATE, { id, input: { throttlePaused: true } })).updateSequence.sequence;
    expect(paused.throttlePaused).toBe(true);
    expect(paused.throttlePausedAt).not.toBeNull();
    const again = (await gql(UPDATE, { id, input: { throttlePaused: true, name: 'Throttle 2' } })).updateSequence.sequence;
    expect(again.throttlePausedAt).toBe(paused.throttlePausedAt);
    const lifted = (await gql(UPDATE, { id, input: { throttlePaused: false } })).updateSequence.sequence;
    expect(lifted).toMatchObject({ throttlePaused: false, throttlePausedAt: null });
  });
});

describe('secondary replies and counts', () => {
  it('a reply with fromPrimary false follows secondaryReplyAction; counts are of distinct subscribers', async () => {
    const seq = await api.sequence({
      name: 'Secondary',
      trigger: 'EVENT_RECEIVED',
      eventName: 'secondary.go',
      primaryReplyAction: 'CONTINUE',
      secondaryReplyAction: 'FINISH',
      steps: [
        email('S1'),
        { type: 'CREATE_DISCOUNT', discount: { discountType: 'percent', percentOff: 10 }, delay: { days: 1 } },
        email('S2', { days: 1 }),
      ],
    });
    const runs: string[] = [];
    for (const address of ['ana@outreach.test', 'bo@outreach.test', 'cy@outreach.test']) {
      runs.push((await api.track({ email: address, event: 'secondary.go' })).enrollments[0]!.id);
    }
    const sent = await Promise.all(runs.map((id) => api.runWhere(id, (r) => r.currentStepPosition === 2 && r.history.length === 1)));
    const before = await get(seq);
    expect(before).toMatchObject({ numContactedProspects: 3, numRepliedProspects: 0, scheduleCount: 0 });
    expect(before.automationPercentage).toBeCloseTo(200 / 3);

    // Ana's colleague replies: the secondary action (FINISH) ends her run. Bo replies himself (CONTINUE), twice.
    const secondary = await api.reply({ messageId: sent[0]!.history[0]!.message!.id, fromPrimary: false });
    expect(secondary.enrollment).toMatchObject({ status: 'COMPLETED' });
    for (let i = 0; i < 2; i++) {
      const primary = await api.reply({ messageId: sent[1]!.history[0]!.message!.id });
      expect(primary.enrollment.status).toBe('ACTIVE');
    }
    expect(await get(seq)).toMatchObject({ numContactedProspects: 3, numRepliedProspects: 2 });

    // After the discount step, Bo's and Cy's runs wait on the EMAIL step: two emails scheduled.
    await advanceAndSettle(t, DAY + 60_000);
    await api.runWhere(runs[2]!, (r) => r.currentStepPosition === 3);
    expect((await get(seq)).scheduleCount).toBe(2);
    await advanceAndSettle(t, DAY + 60_000);
    await api.runWithStatus(runs[2]!, 'COMPLETED');
    expect(await get(seq)).toMatchObject({ scheduleCount: 0, numContactedProspects: 3 });
    expect(api.mailTo('ana@outreach.test').map((m) => m.subject)).toEqual(['S1']);
  });
});
