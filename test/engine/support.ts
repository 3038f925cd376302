// Shared GraphQL documents and small helpers for the engine behaviour suites.
// Not a test file: each suite calls `engineApi(t, ws)` with its own engine and workspace.
import { expect } from 'vitest';
import type { ParsedMail } from 'mailparser';
import type { useTestEngine } from '../helpers/engine.js';
import { drained } from '../helpers/jobs.js';

export type TestEngine = Awaited<ReturnType<typeof useTestEngine>>;
export type Workspace = Awaited<ReturnType<TestEngine['workspace']>>;

export const DAY = 86_400_000;
export const HOUR = 3_600_000;

const ERRORS = 'errors { field message code }';
export const RUN_FIELDS = `id status enrollmentKey idempotencyKey entryEvent currentStepPosition nextTriggerAt startedAt
  completedAt cancelledAt cancelReason discountCode subscriber { id email } sequence { id }
  history { status scheduledAt executedAt error step { position type } message { id subject to status } }`;

const Q = {
  create: `mutation($input: CreateSequenceInput!) { createSequence(input: $input) { sequence { id status steps { id position } } ${ERRORS} } }`,
  enable: `mutation($id: ID!) { enableSequence(id: $id) { sequence { id status } ${ERRORS} } }`,
  disable: `mutation($id: ID!) { disableSequence(id: $id) { sequence { id status } ${ERRORS} } }`,
  archive: `mutation($id: ID!) { archiveSequence(id: $id) { sequence { id status } ${ERRORS} } }`,
  update: `mutation($id: ID!, $input: UpdateSequenceInput!) { updateSequence(id: $id, input: $input) { sequence { id } ${ERRORS} } }`,
  track: `mutation($input: TrackEventInput!) { trackEvent(input: $input) {
    event { id name properties subscriber { id email } } enrollments { ${RUN_FIELDS} } ${ERRORS} } }`,
  enroll: `mutation($input: EnrollSubscriberInput!) { enrollSubscriber(input: $input) { enrollment { ${RUN_FIELDS} } ${ERRORS} } }`,
  remove: `mutation($input: RemoveSubscriberInput!) { removeSubscriberFromSequence(input: $input) { enrollment { ${RUN_FIELDS} } ${ERRORS} } }`,
  pause: `mutation($id: ID!) { pauseEnrollment(id: $id) { enrollment { ${RUN_FIELDS} } ${ERRORS} } }`,
  resume: `mutation($id: ID!) { resumeEnrollment(id: $id) { enrollment { ${RUN_FIELDS} } ${ERRORS} } }`,
  reply: `mutation($input: RecordReplyInput!) { recordReply(input: $input) { enrollment { ${RUN_FIELDS} } ${ERRORS} } }`,
  upsert: `mutation($input: SubscriberInput!) { upsertSubscriber(input: $input) { subscriber { id email tags status } ${ERRORS} } }`,
  addTag: `mutation($id: ID!, $tag: String!) { addTag(subscriberId: $id, tag: $tag) { subscriber { id tags } ${ERRORS} } }`,
  removeTag: `mutation($id: ID!, $tag: String!) { removeTag(subscriberId: $id, tag: $tag) { subscriber { id tags } ${ERRORS} } }`,
  addToList: `mutation($id: ID!, $list: ID!) { addToList(subscriberId: $id, listId: $list) { subscriber { id } ${ERRORS} } }`,
  removeFromList: `mutation($id: ID!, $list: ID!) { removeFromList(subscriberId: $id, listId: $list) { subscriber { id } ${ERRORS} } }`,
  createList: `mutation($name: String!) { createList(name: $name) { id } }`,
  createSegment: `mutation($name: String!, $definition: JSON!) { createSegment(name: $name, definition: $definition) { id } }`,
  unsubscribe: `mutation($id: ID!) { unsubscribe(subscriberId: $id) { subscriber { id status } ${ERRORS} } }`,
  run: `query($id: ID!) { enrollment(id: $id) { ${RUN_FIELDS} } }`,
  runs: `query($id: ID!) { sequence(id: $id) { enrollments(first: 100) { totalCount edges { node { ${RUN_FIELDS} } } } } }`,
};

export interface Run {
  id: string;
  status: string;
  enrollmentKey: string | null;
  idempotencyKey: string | null;
  entryEvent: any;
  currentStepPosition: number | null;
  nextTriggerAt: string | null;
  startedAt: string;
  completedAt: string | null;
  cancelledAt: string | null;
  cancelReason: string | null;
  discountCode: string | null;
  subscriber: { id: string; email: string };
  sequence: { id: string };
  history: {
    status: string;
    scheduledAt: string;
    executedAt: string | null;
    error: string | null;
    step: { position: number; type: string };
    message: { id: string; subject: string; to: string; status: string } | null;
  }[];
}

export function email(subject: string, delay?: { days?: number; hours?: number; minutes?: number }) {
  return { subject, blocks: [{ type: 'text', text: `Body of ${subject}` }], ...(delay ? { delay } : {}) };
}

export function recipient(mail: ParsedMail): string {
  const to = mail.to;
  return (Array.isArray(to) ? to.map((a) => a.text).join(', ') : (to?.text ?? '')).toLowerCase();
}

export function engineApi(t: TestEngine, ws: Workspace) {
  async function ok<T = any>(query: string, variables: Record<string, unknown>, field: string): Promise<T> {
    const res = await ws.gql(query, variables);
    expect(res.errors, JSON.stringify(res.errors)).toBeUndefined();
    const payload = res.data[field];
    expect(payload.errors, `${field}: ${JSON.stringify(payload.errors)}`).toEqual([]);
    return payload;
  }

  const api = {
    ws,
    /** Creates a sequence; enabled (ACTIVE) unless `enable: false`. Returns its ID. */
    async sequence(input: Record<string, unknown>, options: { enable?: boolean } = {}): Promise<string> {
      const created = await ok(Q.create, { input }, 'createSequence');
      const id = created.sequence.id as string;
      if (options.enable ?? true) await api.enable(id);
      return id;
    },
    enable: (id: string) => ok(Q.enable, { id }, 'enableSequence'),
    disable: (id: string) => ok(Q.disable, { id }, 'disableSequence'),
    archive: (id: string) => ok(Q.archive, { id }, 'archiveSequence'),
    update: (id: string, input: Record<string, unknown>) => ok(Q.update, { id, input }, 'updateSequence'),
    /** trackEvent that must succeed; returns the payload (event, enrollments started). */
    track: (input: Record<string, unknown>) =>
      ok<{ event: any; enrollments: Run[] }>(Q.track, { input }, 'trackEvent'),
    /** Raw trackEvent payload, errors included. */
    trackRaw: async (input: Record<string, unknown>) => (await ws.gql(Q.track, { input })).data.trackEvent,
    enroll: async (input: Record<string, unknown>) => (await ok<{ enrollment: Run }>(Q.enroll, { input }, 'enrollSubscriber')).enrollment,
    enrollRaw: async (input: Record<string, unknown>) => (await ws.gql(Q.enroll, { input })).data.enrollSubscriber,
    remove: async (input: Record<string, unknown>) => (await ws.gql(Q.remove, { input })).data.removeSubscriberFromSequence,
    pause: async (id: string) => (await ws.gql(Q.pause, { id })).data.pauseEnrollment,
    resume: async (id: string) => (await ws.gql(Q.resume, { id })).data.resumeEnrollment,
    reply: async (input: Record<string, unknown>) => (await ws.gql(Q.reply, { input })).data.recordReply,
    /** Upserts a subscriber; returns its public ID. */
    async subscriber(input: Record<string, unknown>): Promise<string> {
      return (await ok(Q.upsert, { input }, 'upsertSubscriber')).subscriber.id;
    },
    addTag: (id: string, tag: string) => ok(Q.addTag, { id, tag }, 'addTag'),
    removeTag: (id: string, tag: string) => ok(Q.removeTag, { id, tag }, 'removeTag'),
    addToList: (id: string, list: string) => ok(Q.addToList, { id, list }, 'addToList'),
    removeFromList: (id: string, list: string) => ok(Q.removeFromList, { id, list }, 'removeFromList'),
    unsubscribe: (id: string) => ok(Q.unsubscribe, { id }, 'unsubscribe'),
    async list(name: string): Promise<string> {
      const res = await ws.gql(Q.createList, { name });
      expect(res.errors).toBeUndefined();
      return res.data.createList.id;
    },
    async segment(name: string, definition: unknown): Promise<string> {
      const res = await ws.gql(Q.createSegment, { name, definition });
      expect(res.errors).toBeUndefined();
      return res.data.createSegment.id;
    },
    async run(id: string): Promise<Run> {
      const res = await ws.gql(Q.run, { id });
      expect(res.errors).toBeUndefined();
      return res.data.enrollment;
    },
    /** Every run of the sequence, oldest first. */
    async runs(sequenceId: string): Promise<Run[]> {
      const res = await ws.gql(Q.runs, { id: sequenceId });
      expect(res.errors).toBeUndefined();
      return (res.data.sequence.enrollments.edges as { node: Run }[])
        .map((e) => e.node)
        .sort((a, b) => a.startedAt.localeCompare(b.startedAt) || a.id.localeCompare(b.id));
    },
    /** Waits until the run satisfies `check` (e.g. reaches a status). */
    async runWhere(id: string, check: (run: Run) => boolean, timeoutMs?: number): Promise<Run> {
      return t.until(async () => {
        const run = await api.run(id);
        return check(run) ? run : null;
      }, timeoutMs);
    },
    runWithStatus: (id: string, status: string) => api.runWhere(id, (r) => r.status === status),
    /** Mail delivered to the SMTP sink for this address, in arrival order. */
    mailTo(address: string): ParsedMail[] {
      return t.smtp.messages.filter((m) => recipient(m) === address.toLowerCase());
    },
    async waitForMail(address: string, count: number): Promise<ParsedMail[]> {
      return t.until(async () => (api.mailTo(address).length >= count ? api.mailTo(address) : null));
    },
  };
  return api;
}

/**
 * Waits until the workers have nothing left to do now: no job of ours that is
 * due (or being worked), no email claimed but unsent. Then "nothing was sent" is
 * a real observation rather than a guess about timing.
 */
export async function settle(t: TestEngine): Promise<void> {
  await drained(t.prisma);
}

/**
 * Lets the work due now finish (so the jobs it schedules exist and move with the
 * clock), moves engine time forward, and waits until every job that fell due has been worked.
 */
export async function advanceAndSettle(t: TestEngine, ms: number): Promise<void> {
  await settle(t);
  await t.advance(ms);
  await settle(t);
}
