// Sequences drafted from a goal: createSequence answers PENDING at once, a job writes
// the steps (built-in writer, or a language model behind a local chat-completions
// server) and the sequence ends DONE, or FAILED with the reason.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { QUEUES } from '../../src/engine/queues.js';
import { workGenerateSequence } from '../../src/engine/workers.js';
import { createGenerator } from '../../src/generation/generator.js';
import { startChatCompletionsServer, type ChatCompletionsServer } from '../helpers/chat-completions-server.js';
import { useTestEngine } from '../helpers/engine.js';

const t = await useTestEngine();
let ws: Awaited<ReturnType<typeof t.workspace>>;
let llm: ChatCompletionsServer;
beforeAll(async () => {
  ws = await t.workspace();
  llm = await startChatCompletionsServer();
});
afterAll(async () => {
  t.runtime.generator = createGenerator({});
  await llm.close();
});
afterEach(() => {
  t.runtime.generator = createGenerator({});
  llm.requests.length = 0;
  llm.answers.length = 0;
});

const ERRORS = 'errors { field message code }';
const SEQUENCE = `id status goal generationStatus generationError stepCount
  steps { position subject previewText blocks delay { days hours minutes } }`;
const CREATE = `mutation($input: CreateSequenceInput!) { createSequence(input: $input) { sequence { ${SEQUENCE} } ${ERRORS} } }`;
const ENABLE = `mutation($id: ID!) { enableSequence(id: $id) { sequence { status } ${ERRORS} } }`;
const READ = `query($id: ID!) { sequence(id: $id) { ${SEQUENCE} } }`;
const COUNT = `{ sequences { totalCount } }`;

async function create(input: Record<string, unknown>) {
  const res = await ws.gql(CREATE, { input: { name: 'Onboarding', trigger: 'CONTACT_ADDED', ...input } });
  expect(res.errors).toBeUndefined();
  expect(res.data.createSequence.errors).toEqual([]);
  return res.data.createSequence.sequence;
}

/** Reads the sequence until its draft is finished (DONE or FAILED). */
async function settled(id: string) {
  return t.until(async () => {
    const s = (await ws.gql(READ, { id })).data.sequence;
    return s.generationStatus === 'DONE' || s.generationStatus === 'FAILED' ? s : null;
  });
}

const answer = (count: number, subject = (i: number) => `Email ${i + 1}`) =>
  JSON.stringify({
    emails: Array.from({ length: count }, (_, i) => ({
      subject: subject(i),
      previewText: `Preview ${i + 1}`,
      blocks: [
        { type: 'heading', text: 'Hello {{subscriber.firstName|there}}' },
        { type: 'text', text: `Part <b>${i + 1}</b> of the series.` },
        { type: 'button', text: 'Open', url: 'https://example.com/start' },
      ],
    })),
  });

describe('with the built-in writer', () => {
  it('answers PENDING at once, refuses to enable meanwhile, then a job writes the steps: DONE', async () => {
    // No generation worker while the mutation answers, so what it returns is what it committed.
    await t.jobs.offWork(QUEUES.generateSequence);
    const created = await create({ goal: 'Get new users to send their first campaign', emailCount: 4 });
    expect(created).toMatchObject({
      status: 'DRAFT',
      goal: 'Get new users to send their first campaign',
      generationStatus: 'PENDING',
      generationError: null,
      stepCount: 0,
      steps: [],
    });
    const refused = await ws.gql(ENABLE, { id: created.id });
    expect(refused.data.enableSequence.errors).toEqual([
      { field: ['id'], message: 'The sequence is still being generated', code: 'GENERATION_PENDING' },
    ]);

    await workGenerateSequence(t.runtime);
    const done = await settled(created.id);
    expect(done.generationStatus).toBe('DONE');
    expect(done.generationError).toBeNull();
    expect(done.stepCount).toBe(4);
    expect(done.steps.map((s: any) => [s.position, s.delay.days])).toEqual([
      [1, 0],
      [2, 1],
      [3, 2],
      [4, 3],
    ]);
    expect(done.steps[0].subject).toBe('Welcome, {{subscriber.firstName|there}}!');
    for (const step of done.steps) {
      expect(step.previewText).toBeTruthy();
      expect(step.blocks.at(-1)).toMatchObject({ type: 'footer' });
    }
    expect(JSON.stringify(done.steps[0].blocks)).toContain('Get new users to send their first campaign');

    // The draft is a normal sequence now: it can be enabled.
    expect((await ws.gql(ENABLE, { id: created.id })).data.enableSequence).toEqual({ sequence: { status: 'ACTIVE' }, errors: [] });
  });

  it('defaults to five emails, and writes a follow-up for an event trigger without event merge tags', async () => {
    const created = await create({ trigger: 'EVENT_RECEIVED', eventName: 'order.placed', goal: 'Ask for a review' });
    const done = await settled(created.id);
    expect(done.generationStatus).toBe('DONE');
    expect(done.steps).toHaveLength(5);
    expect(done.steps[0].subject).toBe('Thanks, {{subscriber.firstName|there}}');
    expect(JSON.stringify(done.steps)).not.toContain('{{event.');
  });

  it('sends the drafted email to a new contact once enabled', async () => {
    const created = await create({ name: 'Welcome drafted', goal: 'Connect a data source', emailCount: 1 });
    expect((await settled(created.id)).generationStatus).toBe('DONE');
    expect((await ws.gql(ENABLE, { id: created.id })).data.enableSequence.errors).toEqual([]);
    const upsert = await ws.gql(`mutation { upsertSubscriber(input: { email: "grace@example.com", firstName: "Grace" }) { ${ERRORS} } }`);
    expect(upsert.data.upsertSubscriber.errors).toEqual([]);
    // (The sequence enabled above welcomes her too; this is the one drafted here.)
    const mail = await t.until(async () => t.smtp.messages.find((m) => m.text?.includes('Connect a data source')));
    expect(mail.subject).toBe('Welcome, Grace!');
    expect(mail.to).toMatchObject({ text: 'grace@example.com' });
  });

  it.each([
    [{ goal: 'A goal', steps: [{ subject: 'Hi', blocks: [{ type: 'text', text: 'x' }] }] }, ['input', 'goal'], 'goal cannot be combined with steps'],
    [{ goal: 'A goal', emailCount: 11 }, ['input', 'emailCount'], 'must be at most 10'],
    [{ goal: 'A goal', emailCount: 0 }, ['input', 'emailCount'], 'must be at least 1'],
    [{ emailCount: 3 }, ['input', 'emailCount'], 'emailCount only applies with goal'],
    [{ goal: '   ' }, ['input', 'goal'], 'goal must not be empty'],
  ])('refuses %j with a UserError and writes nothing', async (input, field, message) => {
    const fresh = await t.workspace('Bad input');
    const res = await fresh.gql(CREATE, { input: { name: 'Bad', trigger: 'CONTACT_ADDED', ...input } });
    expect(res.data.createSequence.sequence).toBeNull();
    expect(res.data.createSequence.errors).toEqual([expect.objectContaining({ field, message: expect.stringContaining(message) })]);
    expect((await fresh.gql(COUNT)).data.sequences.totalCount).toBe(0);
  });
});

describe('with a language model (OpenAI-compatible chat completions)', () => {
  const point = (timeoutMs = 10_000) =>
    t.runtime.generator = createGenerator({ baseUrl: llm.baseUrl, apiKey: 'sk-test-key', model: 'test-model', timeoutMs });

  it('asks the model for JSON with the goal, and writes its emails: DONE', async () => {
    point();
    llm.answers.push(answer(3));
    const created = await create({ name: 'Trial nurture', goal: 'Convert trial users to the Pro plan', emailCount: 3 });
    const done = await settled(created.id);
    expect(done.generationError).toBeNull();
    expect(done.generationStatus).toBe('DONE');
    expect(done.steps.map((s: any) => [s.subject, s.previewText, s.delay.days])).toEqual([
      ['Email 1', 'Preview 1', 0],
      ['Email 2', 'Preview 2', 1],
      ['Email 3', 'Preview 3', 2],
    ]);
    // Its blocks, validated, with ids and the missing footer added.
    expect(done.steps[1].blocks).toEqual([
      { id: 'b1', type: 'heading', text: 'Hello {{subscriber.firstName|there}}', level: 1 },
      { id: 'b2', type: 'text', text: 'Part <b>2</b> of the series.', variant: 'body' },
      { id: 'b3', type: 'button', text: 'Open', url: 'https://example.com/start' },
      { id: 'b4', type: 'footer', text: 'You are receiving this because you subscribed.' },
    ]);

    expect(llm.requests).toHaveLength(1);
    const [request] = llm.requests;
    expect(request).toMatchObject({ method: 'POST', path: '/chat/completions' });
    expect(request!.headers.authorization).toBe('Bearer sk-test-key');
    expect(request!.body.model).toBe('test-model');
    expect(request!.body.response_format).toEqual({ type: 'json_object' });
    expect(request!.body.messages[0].role).toBe('system');
    const user = request!.body.messages.find((m: any) => m.role === 'user');
    expect(user.content).toContain('Convert trial users to the Pro plan');
    expect(user.content).toContain('exactly 3');
    expect(user.content).toContain('Trial nurture');
  });

  it('asks once more after an invalid answer, and uses the valid second one: DONE', async () => {
    point();
    llm.answers.push('this is not json', answer(2, (i) => `Retry ${i + 1}`));
    const created = await create({ goal: 'Win back lapsed buyers', emailCount: 2, trigger: 'INACTIVITY', inactiveDays: 60 });
    const done = await settled(created.id);
    expect(done.generationStatus).toBe('DONE');
    expect(done.steps.map((s: any) => s.subject)).toEqual(['Retry 1', 'Retry 2']);
    expect(llm.requests).toHaveLength(2);
    // The second request carries the first answer and what was wrong with it.
    const retry = llm.requests[1]!.body.messages;
    expect(retry.at(-2)).toEqual({ role: 'assistant', content: 'this is not json' });
    expect(retry.at(-1).content).toContain('the answer was not valid JSON');
  });

  it('fails with the reason after a second invalid answer, writing no steps', async () => {
    point();
    const badBlocks = JSON.stringify({
      emails: [{ subject: 'Hi', blocks: [{ type: 'button', text: 'Go', url: 'javascript:alert(1)' }] }],
    });
    llm.answers.push(answer(3), badBlocks);
    const created = await create({ goal: 'Sell more', emailCount: 1 });
    const failed = await settled(created.id);
    expect(failed.generationStatus).toBe('FAILED');
    expect(failed.generationError).toBe(
      'The language model gave an invalid draft twice: emails.0.blocks.0.url: must be an http(s) or mailto URL or start with a merge tag',
    );
    expect(failed.steps).toEqual([]);
    expect(llm.requests).toHaveLength(2);
    expect(llm.requests[1]!.body.messages.at(-1).content).toContain('emails: expected 1 emails, got 3');
    // Not generating any more, but nothing to send either.
    expect((await ws.gql(ENABLE, { id: created.id })).data.enableSequence.errors).toEqual([
      { field: ['id'], message: 'A sequence needs at least one step to be enabled', code: 'NO_STEPS' },
    ]);
  });

  it('fails with the reason when the model does not answer in time', async () => {
    point(300);
    llm.answers.push('hang');
    const created = await create({ goal: 'Onboard new admins', emailCount: 2 });
    const failed = await settled(created.id);
    expect(failed.generationStatus).toBe('FAILED');
    expect(failed.generationError).toBe('The language model did not answer within 300 ms');
    expect(failed.steps).toEqual([]);
    expect(llm.requests).toHaveLength(1);
  });

  it('fails with the reason when the model refuses the request', async () => {
    point();
    // Nothing scripted: the server answers 500.
    const created = await create({ goal: 'Onboard new admins', emailCount: 2 });
    const failed = await settled(created.id);
    expect(failed.generationStatus).toBe('FAILED');
    expect(failed.generationError).toMatch(/^The language model refused the request \(HTTP 500\)/);
  });
});
