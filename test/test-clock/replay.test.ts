// Simulated, then replayed on a test clock: simulateSequence's timeline and what
// the engine really does in a test workspace whose clock is advanced (the same
// happenings made through the API at their virtual times) agree entry by entry,
// to the minute, and the captured emails are the simulated ones.
import { describe, expect, it } from 'vitest';
import { useTestEngine } from '../helpers/engine.js';
import { testWorkspace } from '../helpers/test-clock.js';
import { engineApi, email } from '../engine/support.js';
import { addIsoDuration, parseIsoDuration } from '../../src/domain/iso-duration.js';

const t = await useTestEngine();
// Unsubscribe links are HTTP routes: the server answers them on the link's workspace's clock.
const port = await t.app.start(0, '127.0.0.1');

interface Happening {
  after: string;
  kind: 'EVENT' | 'REPLY' | 'TAG_ADDED' | 'UNSUBSCRIBE';
  event?: string;
  tag?: string;
}

interface Entry {
  at: string;
  outcome: string;
  position: number | null;
  reason?: string | null;
}

const SIMULATE = `mutation($input: SimulateSequenceInput!) { simulateSequence(input: $input) {
  timeline { at outcome position reason subject previewText html text } finalStatus endedAt errors { field message code } } }`;
const MESSAGES = `query($r: ID!) { messages(enrollmentId: $r, first: 50) { edges { node { id subject previewText html text sentAt status headers { name value } } } } }`;

const after = (start: Date, duration: string) => addIsoDuration(start, parseIsoDuration(duration)!)!;

/** Tracking links name their message: the simulated email's stand-in, the sent one's own. */
const unlinked = (html: string | null) => html?.replace(/\/t\/([ocu])\/(?:[0-9a-f]{32}\/)?[0-9a-f]{32}\/[A-Za-z0-9_-]{22}/g, '/t/$1/…') ?? null;

// Entries the database records (DEFERRED moves nextTriggerAt only), in one order at equal times.
const RANK = ['QUEUED', 'STARTED', 'RESUMED', 'SKIPPED', 'SENT', 'PAUSED', 'STOPPED', 'COMPLETED', 'FAILED'];
const ordered = (entries: Entry[]) =>
  entries
    .filter((e) => RANK.includes(e.outcome))
    .map((e) => ({ ...e, at: e.at.slice(0, 16) })) // to the minute
    .sort((a, b) => a.at.localeCompare(b.at) || RANK.indexOf(a.outcome) - RANK.indexOf(b.outcome));

/** The run's timeline as the engine recorded it: the change log and the step runs. */
async function recorded(runId: string, api: ReturnType<typeof engineApi>): Promise<Entry[]> {
  const run = await api.run(runId);
  const uuid = runId.slice(runId.indexOf('_') + 1).replace(/^(.{8})(.{4})(.{4})(.{4})(.{12})$/, '$1-$2-$3-$4-$5');
  const changes = await t.prisma.enrollmentChange.findMany({ where: { enrollmentId: uuid }, orderBy: { id: 'asc' } });
  const entries: Entry[] = changes.map((c) => ({
    at: c.occurredAt.toISOString(),
    outcome: c.status === 'ACTIVE' ? (c.previousStatus === 'PAUSED' ? 'RESUMED' : 'STARTED') : c.status === 'CANCELLED' ? 'STOPPED' : c.status,
    position: null,
    reason: c.reason,
  }));
  for (const h of run.history) entries.push({ at: h.executedAt!, outcome: h.status, position: h.step.position });
  return entries;
}

/**
 * Simulates the sequence for a new subscriber starting at `start` with the
 * happenings, then runs it in the test workspace: trackEvent at `start`, each
 * happening made through the API once the clock reaches it, the clock advanced
 * to `until`. Returns both timelines and emails.
 */
async function simulateAndReplay(name: string, start: Date, sequence: Record<string, unknown>, happenings: Happening[], until = 'P30D') {
  const ws = await testWorkspace(t, start, name);
  const api = engineApi(t, ws as any);
  const sequenceId = await api.sequence(sequence);
  const address = `${name.toLowerCase().replace(/\W+/g, '-')}@example.com`;
  const subscriberId = await api.subscriber({ email: address, firstName: 'Ada' });
  const properties = { city: 'Lisbon' };

  const simulated = (await ws.gql(SIMULATE, { input: { sequenceId, subscriberId, event: 'signed_up', properties, startAt: start.toISOString(), happenings } })).data
    .simulateSequence;
  expect(simulated.errors).toEqual([]);

  const { enrollments } = await api.track({ event: 'signed_up', email: address, properties });
  const runId = enrollments[0]!.id;
  for (const h of [...happenings].sort((a, b) => after(start, a.after).getTime() - after(start, b.after).getTime())) {
    expect((await ws.advance({ to: after(start, h.after).toISOString() })).testClock?.status).toBe('READY');
    if (h.kind === 'EVENT') await api.track({ event: h.event, email: address });
    if (h.kind === 'TAG_ADDED') await api.addTag(subscriberId, h.tag!);
    const sent = (await ws.gql(MESSAGES, { r: runId })).data.messages.edges.map((e: any) => e.node);
    const last = sent.sort((a: any, b: any) => a.sentAt.localeCompare(b.sentAt)).at(-1);
    if (h.kind === 'REPLY') expect((await api.reply({ messageId: last.id })).errors).toEqual([]);
    if (h.kind === 'UNSUBSCRIBE') {
      // RFC 8058 one-click, on the captured List-Unsubscribe header of the last email.
      const link = new URL(/<(.+)>/.exec(last.headers.find((x: any) => x.name === 'List-Unsubscribe').value)![1]!);
      const res = await fetch(`http://127.0.0.1:${port}${link.pathname}`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: 'List-Unsubscribe=One-Click',
      });
      expect(res.status).toBe(200);
    }
  }
  expect((await ws.advance({ to: after(start, until).toISOString() })).testClock).toMatchObject({ status: 'READY', frozenTime: after(start, until).toISOString() });

  const run = await api.run(runId);
  const sent = (await ws.gql(MESSAGES, { r: runId })).data.messages.edges
    .map((e: any) => e.node)
    .sort((a: any, b: any) => a.sentAt.localeCompare(b.sentAt));
  return { simulated, replayed: await recorded(runId, api), run, sent };
}

/** Both sides agree: the same entries at the same minutes, the same final status, the same emails. */
function expectSameRun(result: Awaited<ReturnType<typeof simulateAndReplay>>) {
  const { simulated, replayed, run, sent } = result;
  expect(ordered(replayed).map(({ reason, ...e }) => e)).toEqual(ordered(simulated.timeline).map(({ at, outcome, position }: Entry) => ({ at, outcome, position: RUN_LEVEL.has(outcome) ? null : position })));
  // Run-level reasons are the change log's.
  expect(ordered(replayed).filter((e) => RUN_LEVEL.has(e.outcome)).map((e) => e.reason)).toEqual(
    ordered(simulated.timeline).filter((e: Entry) => RUN_LEVEL.has(e.outcome)).map((e: Entry) => e.reason),
  );
  expect(run.status).toBe(simulated.finalStatus);
  const emails = simulated.timeline.filter((e: any) => e.outcome === 'SENT');
  expect(sent.map((m: any) => ({ at: m.sentAt, subject: m.subject, previewText: m.previewText, html: unlinked(m.html), text: unlinked(m.text) }))).toEqual(
    emails.map((e: any) => ({ at: e.at, subject: e.subject, previewText: e.previewText, html: unlinked(e.html), text: unlinked(e.text) })),
  );
}

const RUN_LEVEL = new Set(['QUEUED', 'STARTED', 'RESUMED', 'PAUSED', 'STOPPED', 'COMPLETED']);

function fiveSteps(timezone: string) {
  const body = (n: number) => ({
    subject: `Step ${n} for {{subscriber.firstName|friend}}`,
    previewText: `Preview ${n}`,
    blocks: [
      { type: 'heading', text: `Hello {{subscriber.firstName}} (${n})` },
      { type: 'text', text: 'Your account in {{event.city|your city}} is ready.' },
      { type: 'button', text: 'Open', url: 'https://example.com/open' },
    ],
  });
  return {
    name: `Five steps ${timezone}`,
    trigger: 'EVENT_RECEIVED',
    eventName: 'signed_up',
    sendWindow: { timezone, daysOfWeek: [1, 2, 3, 4, 5], startHour: 9, endHour: 17 },
    steps: [
      body(1),
      { ...body(2), delay: { hours: 5 } },
      { ...body(3), delay: { days: 2 } },
      { ...body(4), delay: { days: 1, hours: 3 } },
      { ...body(5), delay: { days: 3 } },
    ],
  };
}

describe('simulated, then replayed on a test clock', () => {
  it('Europe/Berlin: five steps over hours and days across the spring DST change — same send times and emails', async () => {
    // Thursday 26 March 2026, 17:30 in Berlin (CET): after the window. Clocks go forward on Sunday 29 March.
    const result = await simulateAndReplay('Berlin', new Date('2026-03-26T16:30:00Z'), fiveSteps('Europe/Berlin'), []);
    expectSameRun(result);
    const times = result.sent.map((m: any) => m.sentAt);
    expect(times).toHaveLength(5);
    // 09:00 CET on Friday is 08:00 UTC; after the change 09:00 CEST is 07:00 UTC.
    expect(times[0]).toBe('2026-03-27T08:00:00.000Z');
    expect(times[2]).toBe('2026-03-30T07:00:00.000Z');
    expect(result.run.status).toBe('COMPLETED');
  });

  it('America/New_York: the same across its DST change (8 March 2026)', async () => {
    // Thursday 5 March 2026, 17:00 in New York (EST).
    const result = await simulateAndReplay('New York', new Date('2026-03-05T22:00:00Z'), fiveSteps('America/New_York'), []);
    expectSameRun(result);
    const times = result.sent.map((m: any) => m.sentAt);
    expect(times[0]).toBe('2026-03-06T14:00:00.000Z'); // 09:00 EST
    expect(times[2]).toBe('2026-03-09T13:00:00.000Z'); // Monday 09:00 EDT
  });

  const T0 = new Date('2026-06-01T10:00:00Z'); // a Monday
  const three = (extra: Record<string, unknown>) => ({
    name: 'Three',
    trigger: 'EVENT_RECEIVED',
    eventName: 'signed_up',
    steps: [email('One'), email('Two', { days: 1 }), email('Three', { days: 2 })],
    ...extra,
  });

  it('a stop condition met midway stops the run in both', async () => {
    const result = await simulateAndReplay('Stop', T0, three({ stopCondition: { type: 'EVENT_RECEIVED', value: 'purchased' } }), [
      { after: 'P1DT6H', kind: 'EVENT', event: 'purchased' },
    ]);
    expectSameRun(result);
    expect(result.run.status).toBe('STOPPED');
    expect(result.sent.map((m: any) => m.subject)).toEqual(['One', 'Two']);
  });

  it('a reply with the PAUSE action pauses for its duration, then the run completes, in both', async () => {
    const result = await simulateAndReplay('Pause', T0, three({ primaryReplyAction: 'PAUSE', primaryReplyPauseDuration: 3 * 86_400 }), [
      { after: 'PT6H', kind: 'REPLY' },
    ]);
    expectSameRun(result);
    const outcomes = ordered(result.replayed).map((e) => [e.outcome, e.at]);
    expect(outcomes).toContainEqual(['PAUSED', '2026-06-01T16:00']);
    expect(outcomes.at(-1)).toEqual(['COMPLETED', '2026-06-04T16:00']);
  });

  it('an unsubscribe (the one-click link of an email) ends the run in both', async () => {
    const result = await simulateAndReplay('Unsubscribe', T0, three({}), [{ after: 'P1DT2H', kind: 'UNSUBSCRIBE' }]);
    expectSameRun(result);
    expect(result.run.status).toBe('STOPPED');
    expect(result.sent.map((m: any) => m.subject)).toEqual(['One', 'Two']);
  });

  it('a daily throttle queues a run and releases it at the UTC day roll-over, in both', async () => {
    const ws = await testWorkspace(t, T0, 'Throttle');
    const api = engineApi(t, ws as any);
    const sequenceId = await api.sequence(three({ throttleMaxAddsPerDay: 1 }));
    await api.track({ event: 'signed_up', email: 'first@example.com' });
    const subscriberId = await api.subscriber({ email: 'second@example.com', firstName: 'Ada' });
    const simulated = (await ws.gql(SIMULATE, { input: { sequenceId, subscriberId, event: 'signed_up', startAt: T0.toISOString() } })).data.simulateSequence;
    expect(simulated.errors).toEqual([]);
    const { enrollments } = await api.track({ event: 'signed_up', email: 'second@example.com' });
    expect(enrollments[0]!.status).toBe('QUEUED');
    expect((await ws.advance({ by: 'P10D' })).testClock?.status).toBe('READY');
    const replayed = await recorded(enrollments[0]!.id, api);
    expect(ordered(replayed).map(({ reason, ...e }) => e)).toEqual(
      ordered(simulated.timeline).map(({ at, outcome, position }: Entry) => ({ at, outcome, position: RUN_LEVEL.has(outcome) ? null : position })),
    );
    expect(ordered(replayed).slice(0, 2).map((e) => [e.outcome, e.at])).toEqual([
      ['QUEUED', '2026-06-01T10:00'],
      ['STARTED', '2026-06-02T00:00'],
    ]);
  });
});
