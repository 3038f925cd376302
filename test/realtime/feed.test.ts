import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configureChangeFeed } from '../../src/realtime/change-feed.js';
import { useTestEngine } from '../helpers/engine.js';
import { waitFor } from '../helpers/wait-for.js';

const t = await useTestEngine();
let port: number;
let ws: Awaited<ReturnType<typeof t.workspace>>;
let sequenceId: string;

const SUBSCRIBE = `subscription($after: String, $sequenceId: ID, $statuses: [EnrollmentStatus!]) {
  enrollmentChanged(after: $after, sequenceId: $sequenceId, statuses: $statuses) {
    cursor previousStatus status reason occurredAt enrollment { id subscriber { email } }
  }
}`;

beforeAll(async () => {
  port = await t.app.start(0, '127.0.0.1');
  ws = await t.workspace();
  const res = await ws.gql(`mutation { createSequence(input: { name: "Live", trigger: MANUAL, steps: [
    { subject: "One", blocks: [{ type: "text", text: "1" }] } ] }) { sequence { id } } }`);
  sequenceId = res.data.createSequence.sequence.id;
  await ws.gql(`mutation($id: ID!) { enableSequence(id: $id) { errors { message } } }`, { id: sequenceId });
});

/** A new enabled sequence: subscribing to it from cursor 0 replays exactly its changes, however late the subscription is set up. */
async function freshSequence(): Promise<string> {
  const res = await ws.gql(`mutation { createSequence(input: { name: "Live", trigger: MANUAL, steps: [
    { subject: "One", blocks: [{ type: "text", text: "1" }] } ] }) { sequence { id } } }`);
  const id = res.data.createSequence.sequence.id as string;
  await ws.gql(`mutation($id: ID!) { enableSequence(id: $id) { errors { message } } }`, { id });
  return id;
}

async function enroll(email: string, sequence = sequenceId) {
  const res = await ws.gql(`mutation($input: EnrollSubscriberInput!) { enrollSubscriber(input: $input) { enrollment { id } errors { message } } }`, {
    input: { sequenceId: sequence, subscriber: { email } },
  });
  return res.data.enrollSubscriber.enrollment.id as string;
}

function wsClient(key: string): Client {
  const client = createClient({ url: `ws://127.0.0.1:${port}/graphql`, webSocketImpl: WebSocket, connectionParams: { Authorization: `Bearer ${key}` }, retryAttempts: 0 });
  afterAll(() => client.dispose());
  return client;
}

/** Collects changes from a subscription until `count` arrived. */
function collect(client: Client, variables: Record<string, unknown>, count: number) {
  const changes: any[] = [];
  let stop = () => {};
  const done = new Promise<any[]>((resolve, reject) => {
    stop = client.subscribe({ query: SUBSCRIBE, variables }, {
      next: (result) => {
        if (result.errors) reject(new Error(JSON.stringify(result.errors)));
        changes.push(result.data!.enrollmentChanged);
        if (changes.length === count) resolve(changes);
      },
      error: reject,
      complete: () => resolve(changes),
    });
  });
  return { done, changes, stop: () => stop() };
}

describe('enrollmentChanged over graphql-ws', () => {
  it('pushes every status change live, in order, scoped to the workspace', async () => {
    const client = wsClient(ws.key);
    const other = await t.workspace('other');
    const otherFeed = collect(wsClient(other.key), { after: '0' }, 2);
    const live = await freshSequence();
    const feed = collect(client, { sequenceId: live, after: '0' }, 4);
    const a = await enroll('live-a@x.io', live);
    const b = await enroll('live-b@x.io', live);
    const changes = await feed.done;
    const of = (id: string) => changes.filter((c) => c.enrollment.id === id).map((c) => [c.previousStatus, c.status]);
    expect(of(a)).toEqual([[null, 'ACTIVE'], ['ACTIVE', 'COMPLETED']]);
    expect(of(b)).toEqual([[null, 'ACTIVE'], ['ACTIVE', 'COMPLETED']]);
    const cursors = changes.map((c) => BigInt(c.cursor));
    expect([...cursors].sort((x, y) => (x < y ? -1 : 1))).toEqual(cursors);
    // The other workspace's own run is its positive signal: once its two changes
    // arrived, anything leaked from this workspace's runs would have arrived too.
    const otherSequence = (await other.gql(`mutation { createSequence(input: { name: "Elsewhere", trigger: MANUAL, steps: [
      { subject: "One", blocks: [{ type: "text", text: "1" }] } ] }) { sequence { id } } }`)).data.createSequence.sequence.id;
    await other.gql(`mutation($id: ID!) { enableSequence(id: $id) { errors { message } } }`, { id: otherSequence });
    const elsewhere = (await other.gql(`mutation($input: EnrollSubscriberInput!) { enrollSubscriber(input: $input) { enrollment { id } } }`, {
      input: { sequenceId: otherSequence, subscriber: { email: 'elsewhere@x.io' } },
    })).data.enrollSubscriber.enrollment.id;
    const seenElsewhere = await otherFeed.done;
    expect(seenElsewhere.map((c) => [c.enrollment.id, c.status])).toEqual([[elsewhere, 'ACTIVE'], [elsewhere, 'COMPLETED']]);
    feed.stop();
    otherFeed.stop();
  });

  it.each([5_000, 1])('replays from a cursor, then follows live, with no gap and no duplicate (tail of %i)', async (tailSize) => {
    // A tail of one change makes the resumed subscriber replay from the log itself.
    configureChangeFeed({ tailSize });
    const own = await freshSequence();
    const first = collect(wsClient(ws.key), { sequenceId: own, after: '0' }, 2);
    const c = await enroll(`resume-c${tailSize}@x.io`, own);
    const seen = await first.done; // c: ACTIVE, COMPLETED
    first.stop();
    const lastCursor = seen.at(-1).cursor;
    // While nobody listens, more happens.
    const d = await enroll(`resume-d${tailSize}@x.io`, own);
    await t.until(async () => (await t.prisma.enrollment.findFirst({ where: { status: 'COMPLETED', subscriber: { email: `resume-d${tailSize}@x.io` } } })));
    const resumed = collect(wsClient(ws.key), { sequenceId: own, after: lastCursor }, 4);
    // e is made once the replay of d has arrived, so it comes through the live path.
    await waitFor(() => resumed.changes.length >= 2, { message: 'the replay of d' });
    const e = await enroll(`resume-e${tailSize}@x.io`, own);
    const changes = await resumed.done;
    expect(changes.map((ch) => [ch.enrollment.id, ch.status])).toEqual([
      [d, 'ACTIVE'], [d, 'COMPLETED'], [e, 'ACTIVE'], [e, 'COMPLETED'],
    ]);
    expect(changes.map((ch) => ch.enrollment.id)).not.toContain(c);
    resumed.stop();
    configureChangeFeed({ tailSize: 5_000 });
  });

  it('filters by status, and refuses a malformed cursor', async () => {
    const own = await freshSequence();
    const completed = collect(wsClient(ws.key), { sequenceId: own, statuses: ['COMPLETED'], after: '0' }, 1);
    const f = await enroll('filter-f@x.io', own);
    expect((await completed.done).map((ch) => [ch.enrollment.id, ch.status])).toEqual([[f, 'COMPLETED']]);
    completed.stop();
    const bad = collect(wsClient(ws.key), { after: 'not-a-cursor' }, 1);
    await expect(bad.done).rejects.toThrow(/not a valid cursor/);
  });
});

describe('enrollmentChanged over SSE', () => {
  it('streams changes to an authenticated EventSource-style request', async () => {
    const sse = await freshSequence();
    const controller = new AbortController();
    const response = await fetch(`http://127.0.0.1:${port}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'text/event-stream', authorization: `Bearer ${ws.key}` },
      body: JSON.stringify({ query: SUBSCRIBE, variables: { sequenceId: sse, after: '0' } }),
      signal: controller.signal,
    });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toContain('text/event-stream');
    const reader = response.body!.getReader();
    const events: any[] = [];
    const reading = (async () => {
      let buffer = '';
      while (events.length < 2) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += new TextDecoder().decode(value);
        let i: number;
        while ((i = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, i);
          buffer = buffer.slice(i + 2);
          const data = block.split('\n').find((l) => l.startsWith('data: '));
          if (data && block.includes('event: next')) events.push(JSON.parse(data.slice(6)).data.enrollmentChanged);
        }
      }
    })();
    const g = await enroll('sse-g@x.io', sse);
    await reading;
    controller.abort();
    expect(events.map((e) => [e.enrollment.id, e.status])).toEqual([[g, 'ACTIVE'], [g, 'COMPLETED']]);

    const anonymous = await fetch(`http://127.0.0.1:${port}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'text/event-stream' },
      body: JSON.stringify({ query: SUBSCRIBE }),
    });
    expect(anonymous.status).toBe(401);
  });
});
