// Captured email: a test workspace's mail never reaches the SMTP relay. Its
// messages are recorded SENT with their full rendered content and the MIME
// headers they were composed with, readable through `messages`. With
// TEST_SMTP_URL set, the same message goes to that relay (and still not to the
// live one); a refusal there is retried on the test clock, then fails the step.
import { beforeAll, describe, expect, it } from 'vitest';
import { createMailer } from '../../src/mail/transport.js';
import { useTestEngine } from '../helpers/engine.js';
import { startSmtpSink, type SmtpSink } from '../helpers/smtp-sink.js';
import { waitFor } from '../helpers/wait-for.js';
import { recipient } from './support.js';

const t = await useTestEngine();
const FROM = 'Stepwise Test <test@stepwise.test>';

const live = await t.workspace('Mail live');
const test = await t.testWorkspace(live);

type Client = typeof live;

const MESSAGE = `id to from subject previewText html text status sentAt headers { name value } enrollment { id } step { id }`;

/** Enrolls `email` in a new one-email sequence of `ws`; returns the run's ID. */
async function sendOne(ws: Client, email: string, subject: string): Promise<{ runId: string; stepId: string; startedAt: string }> {
  const created = await ws.gql(
    `mutation($input: CreateSequenceInput!) { createSequence(input: $input) { sequence { id steps { id } } errors { code message } } }`,
    {
      input: {
        name: `${subject} sequence`,
        trigger: 'MANUAL',
        steps: [
          {
            subject: `${subject} for {{subscriber.firstName|friend}}`,
            previewText: 'A short preview',
            blocks: [
              { type: 'heading', text: 'Hello {{subscriber.firstName}}' },
              { type: 'button', text: 'Open', url: 'https://example.com/open' },
            ],
          },
        ],
      },
    },
  );
  expect(created.data.createSequence.errors).toEqual([]);
  const sequence = created.data.createSequence.sequence;
  expect((await ws.gql(`mutation($id: ID!) { enableSequence(id: $id) { errors { code } } }`, { id: sequence.id })).data.enableSequence.errors).toEqual([]);
  const run = await ws.gql(
    `mutation($s: ID!, $e: String!) { enrollSubscriber(input: { sequenceId: $s, subscriber: { email: $e, firstName: "Ada" } }) { enrollment { id startedAt } errors { code message } } }`,
    { s: sequence.id, e: email },
  );
  expect(run.data.enrollSubscriber.errors).toEqual([]);
  // A test workspace's steps run when its test clock advances.
  if (ws === test) {
    const advanced = await ws.gql(`mutation { advanceTestClock(by: "PT1H") { testClock { status } errors { code } } }`);
    expect(advanced.data.advanceTestClock).toEqual({ testClock: { status: 'READY' }, errors: [] });
  }
  const { id: runId, startedAt } = run.data.enrollSubscriber.enrollment;
  return { runId, stepId: sequence.steps[0].id, startedAt };
}

/** Waits until the run's message is recorded SENT; returns it as `messages` shows it. */
async function sentMessage(ws: Client, runId: string) {
  return waitFor(
    async () => {
      const res = await ws.gql(`query($r: ID!) { messages(enrollmentId: $r) { edges { node { ${MESSAGE} } } } }`, { r: runId });
      expect(res.errors).toBeUndefined();
      const node = res.data.messages.edges[0]?.node;
      return node?.status === 'SENT' ? node : null;
    },
    { message: `message of ${runId} SENT`, interval: 100 },
  );
}

const header = (m: { headers: { name: string; value: string }[] }, name: string) => m.headers.filter((h) => h.name.toLowerCase() === name.toLowerCase()).map((h) => h.value);
const uuidOf = (id: string) => id.slice(id.indexOf('_') + 1).replace(/^(.{8})(.{4})(.{4})(.{4})(.{12})$/, '$1-$2-$3-$4-$5');

describe('captured email in a test workspace', () => {
  it('is recorded SENT with its rendered content and headers, and nothing reaches the SMTP relay (a live email sent after it is the only one there)', async () => {
    const frozen = (await test.gql('{ testClock { frozenTime } }')).data.testClock.frozenTime;
    const { runId, stepId, startedAt } = await sendOne(test, 'ada@captured.test', 'Welcome');
    const m = await sentMessage(test, runId);
    // The run started at the frozen time, and its first step was sent at that moment of the test clock.
    expect(startedAt).toBe(frozen);
    expect(m.sentAt).toBe(frozen);
    expect(m).toMatchObject({
      to: 'ada@captured.test',
      from: FROM,
      subject: 'Welcome for Ada',
      previewText: 'A short preview',
      enrollment: { id: runId },
      step: { id: stepId },
    });
    expect(m.html).toContain('Hello Ada');
    expect(m.html).toContain('A short preview');
    expect(m.text).toContain('Hello Ada');
    // The button's link is a tracked redirect of the test workspace's message.
    expect(m.html).toMatch(/\/t\/c\//);

    // The headers the message was composed with, as a relay would have received them.
    const names = m.headers.map((h: { name: string }) => h.name.toLowerCase());
    expect(names).toEqual(expect.arrayContaining(['from', 'to', 'subject', 'message-id', 'date', 'mime-version', 'content-type', 'list-unsubscribe', 'list-unsubscribe-post', 'x-stepwise-run', 'x-stepwise-step']));
    expect(header(m, 'From')).toEqual([FROM]);
    expect(header(m, 'To')).toEqual(['ada@captured.test']);
    expect(header(m, 'Subject')).toEqual(['Welcome for Ada']);
    expect(header(m, 'Message-ID')).toEqual([`<${uuidOf(runId)}.${uuidOf(stepId)}@stepwise.test>`]);
    expect(header(m, 'X-Stepwise-Run')).toEqual([uuidOf(runId)]);
    expect(header(m, 'List-Unsubscribe')[0]).toMatch(/^<http.*\/u\/.+>$/);
    expect(header(m, 'Content-Type')[0]).toMatch(/^multipart\/alternative; boundary=/);
    // Dated by the test clock too (the header has whole seconds).
    expect(new Date(header(m, 'Date')[0]!).getTime()).toBe(Math.floor(new Date(frozen).getTime() / 1000) * 1000);

    // The message node gives the same.
    const node = await test.gql(`query($id: ID!) { node(id: $id) { ... on Message { ${MESSAGE} } } }`, { id: m.id });
    expect(node.data.node).toEqual(m);

    // "Nothing reached the relay", shown positively: a live email through the same relay arrives, alone.
    expect(t.smtp.messages).toEqual([]);
    const liveRun = await sendOne(live, 'ada@live.test', 'Live hello');
    const liveMessage = await sentMessage(live, liveRun.runId);
    const [arrived] = await t.smtp.waitFor(1);
    expect(t.smtp.messages).toHaveLength(1);
    expect(recipient(arrived!)).toBe('ada@live.test');
    expect(arrived!.subject).toBe('Live hello for Ada');
    // Live messages keep no header copy.
    expect(liveMessage.headers).toBeNull();
  });
});

describe('with TEST_SMTP_URL', () => {
  let relay: SmtpSink;
  let liveRelay: SmtpSink;
  beforeAll(async () => {
    relay = await startSmtpSink();
    liveRelay = await startSmtpSink();
    // The file's runtime gets transports to these relays, then its own back.
    const own = { ...t.runtime.mail };
    Object.assign(t.runtime.mail, createMailer({ smtpUrl: liveRelay.url, testSmtpUrl: relay.url, from: FROM }, t.prisma));
    return async () => {
      const swapped = { ...t.runtime.mail };
      Object.assign(t.runtime.mail, own);
      swapped.transport.close();
      swapped.test.close();
      await relay.close();
      await liveRelay.close();
    };
  });

  it("relays the test workspace's captured message to that relay, its captured headers, and still not to the live relay", async () => {
    const { runId } = await sendOne(test, 'grace@relayed.test', 'Relayed');
    const m = await sentMessage(test, runId);
    const [arrived] = await relay.waitFor(1);
    expect(relay.messages).toHaveLength(1);
    expect(recipient(arrived!)).toBe('grace@relayed.test');
    expect(arrived!.subject).toBe('Relayed for Ada');
    expect(arrived!.messageId).toBe(header(m, 'Message-ID')[0]);
    expect(arrived!.html).toBe(m.html);
    // Every captured header line is what the relay received.
    const received = arrived!.headerLines.map((l) => l.line.replace(/\r?\n[ \t]+/g, ' '));
    for (const h of m.headers as { name: string; value: string }[]) expect(received).toContain(`${h.name}: ${h.value}`);

    expect(liveRelay.messages).toEqual([]);
    const liveRun = await sendOne(live, 'grace@live.test', 'Live relayed');
    await sentMessage(live, liveRun.runId);
    await liveRelay.waitFor(1);
    expect(liveRelay.messages.map(recipient)).toEqual(['grace@live.test']);
    expect(relay.messages).toHaveLength(1);
  });

  it('a test relay that refuses: retried on the test clock, then the step and run fail; nothing goes to the live relay instead', async () => {
    relay.rejectAll = true;
    try {
      // The advance (an hour) covers every retry's backoff on the test clock.
      const { runId, startedAt } = await sendOne(test, 'refused@relayed.test', 'Refused');
      const res = await test.gql(`query($id: ID!) { enrollment(id: $id) { status history { status error executedAt message { status } } } }`, { id: runId });
      expect(res.data.enrollment).toEqual({
        status: 'FAILED',
        history: [{ status: 'FAILED', error: expect.stringMatching(/Mailbox unavailable/), executedAt: expect.any(String), message: { status: 'FAILED' } }],
      });
      // The last try came after the first one's backoffs, on the test clock (within the hour advanced).
      const failedAfter = new Date(res.data.enrollment.history[0].executedAt).getTime() - new Date(startedAt).getTime();
      expect(failedAfter).toBeGreaterThan(0);
      expect(failedAfter).toBeLessThanOrEqual(3_600_000);
    } finally {
      relay.rejectAll = false;
    }
    expect(relay.messages.map(recipient)).toEqual(['grace@relayed.test']);
    expect(liveRelay.messages.map(recipient)).toEqual(['grace@live.test']);
  });
});
