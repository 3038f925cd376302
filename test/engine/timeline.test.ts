import { beforeAll, describe, expect, it } from 'vitest';
import { useTestEngine } from '../helpers/engine.js';

const t = await useTestEngine();
let ws: Awaited<ReturnType<typeof t.workspace>>;
beforeAll(async () => {
  ws = await t.workspace();
});

const CREATE = `mutation($input: CreateSequenceInput!) { createSequence(input: $input) { sequence { id steps { id } } errors { field message } } }`;
const ENABLE = `mutation($id: ID!) { enableSequence(id: $id) { sequence { status } errors { message } } }`;
const TRACK = `mutation($input: TrackEventInput!) { trackEvent(input: $input) {
  event { id name properties subscriber { email } }
  enrollments { id status entryEvent currentStepPosition nextTriggerAt sequence { id } }
  errors { field message code } } }`;
const RUN = `query($id: ID!) { enrollment(id: $id) { status currentStepPosition nextTriggerAt completedAt
  history { status scheduledAt executedAt step { position } message { subject to status } } } }`;

async function sequence(input: Record<string, unknown>) {
  const res = await ws.gql(CREATE, { input });
  expect(res.data.createSequence.errors).toEqual([]);
  const id = res.data.createSequence.sequence.id;
  expect((await ws.gql(ENABLE, { id })).data.enableSequence.errors).toEqual([]);
  return id as string;
}

describe('an event-triggered two-email sequence', () => {
  it('sends both emails over SMTP, rendering the entry event as it was, and completes', async () => {
    await sequence({
      name: 'Order follow-up',
      trigger: 'EVENT_RECEIVED',
      eventName: 'order.placed',
      steps: [
        { subject: 'Thanks {{subscriber.firstName|friend}}', blocks: [{ type: 'text', text: 'Shipping to {{event.city}}.' }] },
        { subject: 'How was {{event.city}}?', blocks: [{ type: 'text', text: 'Still in {{event.city|somewhere}}?' }], delay: { days: 2 } },
      ],
    });
    const tracked = await ws.gql(TRACK, { input: { email: 'ada@example.com', event: 'order.placed', properties: { city: 'Paris' } } });
    expect(tracked.data.trackEvent.errors).toEqual([]);
    const [run] = tracked.data.trackEvent.enrollments;
    expect(run).toMatchObject({ status: 'ACTIVE', entryEvent: { city: 'Paris' }, currentStepPosition: 1 });

    const [first] = await t.smtp.waitFor(1);
    expect(first!.subject).toBe('Thanks friend');
    expect(first!.to).toMatchObject({ text: 'ada@example.com' });
    expect(first!.text).toContain('Shipping to Paris.');
    expect(first!.html).toContain('Shipping to Paris.');
    expect(first!.messageId).toMatch(/@stepwise\.test>?$/);

    // A later event changes the city; the run keeps its snapshot.
    await ws.gql(TRACK, { input: { email: 'ada@example.com', event: 'address.changed', properties: { city: 'Berlin' } } });
    const waiting = await t.until(async () => {
      const r = (await ws.gql(RUN, { id: run.id })).data.enrollment;
      return r.currentStepPosition === 2 ? r : null;
    });
    expect(new Date(waiting.nextTriggerAt).getTime() - Date.now()).toBeGreaterThan(2 * 86_400_000 - 60_000);
    expect(t.smtp.messages).toHaveLength(1);

    await t.advance(2 * 86_400_000);
    const [, second] = await t.smtp.waitFor(2);
    expect(second!.subject).toBe('How was Paris?');
    expect(second!.text).toContain('Still in Paris?');

    const done = await t.until(async () => {
      const r = (await ws.gql(RUN, { id: run.id })).data.enrollment;
      return r.status === 'COMPLETED' ? r : null;
    });
    expect(done.nextTriggerAt).toBeNull();
    const used = await ws.gql(`{ sequences(search: "Order follow-up") { edges { node { lastUsedAt } } } }`);
    expect(Date.now() - new Date(used.data.sequences.edges[0].node.lastUsedAt).getTime()).toBeLessThan(10 * 60_000);
    expect(done.completedAt).not.toBeNull();
    expect(done.history.map((h: any) => [h.step.position, h.status, h.message.status, h.message.to])).toEqual([
      [1, 'SENT', 'SENT', 'ada@example.com'],
      [2, 'SENT', 'SENT', 'ada@example.com'],
    ]);
  });
});
