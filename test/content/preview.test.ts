import { beforeAll, describe, expect, it } from 'vitest';
import { useTestEngine } from '../helpers/engine.js';

const t = await useTestEngine();
let ws: Awaited<ReturnType<typeof t.workspace>>;
let sequenceId: string;
let port: number;

const PREVIEW = `query($id: ID!, $sub: ID, $email: String, $props: JSON, $startAt: DateTime) {
  previewSequence(sequenceId: $id, subscriberId: $sub, email: $email, properties: $props, startAt: $startAt) {
    step { id position type } dueAfterSeconds dueAt subject previewText html text
  } }`;

beforeAll(async () => {
  port = await t.app.start(0, '127.0.0.1');
  ws = await t.workspace();
  const res = await ws.gql(`mutation($input: CreateSequenceInput!) { createSequence(input: $input) { sequence { id } errors { message } } }`, {
    input: {
      name: 'Previewed',
      trigger: 'EVENT_RECEIVED',
      eventName: 'trial.started',
      sendWindow: { timezone: 'Europe/Berlin', daysOfWeek: [1, 2, 3, 4, 5], startHour: 9, endHour: 17 },
      steps: [
        { subject: 'Welcome {{subscriber.firstName|there}}', previewText: 'Your {{event.plan}} trial', blocks: [
          { type: 'heading', text: 'Hi {{subscriber.firstName}}' },
          { type: 'text', text: 'You picked <b>{{event.plan}}</b> in {{subscriber.attributes.city|your city}}.' },
          { type: 'button', text: 'Open', url: 'https://example.com/start?plan={{event.plan}}' },
        ] },
        { type: 'CREATE_DISCOUNT', discount: { discountType: 'percent', percentOff: 15, codePrefix: 'TRIAL' }, delay: { days: 1 } },
        { subject: 'Day two', blocks: [{ type: 'text', text: 'Still on {{event.plan}}: code {{discount.code}}' }], delay: { hours: 2 } },
      ],
    },
  });
  sequenceId = res.data.createSequence.sequence.id;
  await ws.gql(`mutation($input: SubscriberInput!) { upsertSubscriber(input: $input) { errors { message } } }`, {
    input: { email: 'grace@example.com', firstName: 'Grace', attributes: { city: 'Arlington' } },
  });
});

describe('previewSequence', () => {
  it('gives each step its due time, relative and absolute with the send window, and renders it for the subscriber', async () => {
    // Friday 2026-11-27 16:30 in Berlin (15:30 UTC): the first step is due at once, within the window.
    const res = await ws.gql(PREVIEW, { id: sequenceId, email: 'grace@example.com', props: { plan: 'Pro' }, startAt: '2026-11-27T15:30:00Z' });
    expect(res.errors).toBeUndefined();
    const steps = res.data.previewSequence;
    expect(steps.map((s: any) => [s.step.position, s.step.type, s.dueAfterSeconds])).toEqual([
      [1, 'EMAIL', 0], [2, 'CREATE_DISCOUNT', 86_400], [3, 'EMAIL', 93_600],
    ]);
    expect(steps[0].dueAt).toBe('2026-11-27T15:30:00.000Z');
    // A day later is Saturday: the window opens Monday 09:00 Berlin (08:00 UTC); two hours after that.
    expect(steps[1].dueAt).toBe('2026-11-30T08:00:00.000Z');
    expect(steps[2].dueAt).toBe('2026-11-30T10:00:00.000Z');
    expect(steps[0]).toMatchObject({ subject: 'Welcome Grace', previewText: 'Your Pro trial' });
    expect(steps[0].html).toContain('You picked <b>Pro</b> in Arlington.');
    // Links go through the (signed) click redirect, which carries the destination.
    expect(steps[0].html).toContain(`?u=${encodeURIComponent('https://example.com/start?plan=Pro')}`);
    expect(steps[0].text).toContain('You picked Pro in Arlington.');
    expect(steps[1]).toMatchObject({ subject: null, html: null });
    expect(steps[2].text).toContain('code TRIAL-PREVIEW');
    // Nothing was written.
    expect(await t.prisma.enrollment.count()).toBe(0);
    expect(await t.prisma.message.count()).toBe(0);
  });

  it('previews an unknown email as a new subscriber and refuses bad input', async () => {
    const res = await ws.gql(PREVIEW, { id: sequenceId, email: 'new@example.com' });
    expect(res.data.previewSequence[0].subject).toBe('Welcome there');
    expect(res.data.previewSequence[0].dueAt).toBeNull();
    const both = await ws.gql(PREVIEW, { id: sequenceId, email: 'a@b.co', sub: 'sub_00000000000000000000000000000000' });
    expect(both.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: ['email'] });
    const unknown = await ws.gql(PREVIEW, { id: 'seq_00000000000000000000000000000000' });
    expect(unknown.errors?.[0]?.extensions).toMatchObject({ code: 'NOT_FOUND', field: ['sequenceId'] });
    const props = await ws.gql(PREVIEW, { id: sequenceId, props: [1] });
    expect(props.errors?.[0]?.extensions).toMatchObject({ field: ['properties'] });
  });

  it('renders a step as a page at /preview/:stepId', async () => {
    const steps = (await ws.gql(PREVIEW, { id: sequenceId })).data.previewSequence;
    const page = await fetch(`http://127.0.0.1:${port}/preview/${steps[0].step.id}?email=grace@example.com`, { headers: { authorization: `Bearer ${ws.key}` } });
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toContain('text/html');
    expect(await page.text()).toContain('Welcome Grace');
    expect((await fetch(`http://127.0.0.1:${port}/preview/${steps[0].step.id}`)).status).toBe(401);
    const other = await t.workspace('other');
    expect((await fetch(`http://127.0.0.1:${port}/preview/${steps[0].step.id}`, { headers: { authorization: `Bearer ${other.key}` } })).status).toBe(404);
  });

  it('previews exactly what is then sent over SMTP', async () => {
    // The same content without a send window, so the first email goes out now.
    const copy = await ws.gql(`mutation($input: CreateSequenceInput!) { createSequence(input: $input) { sequence { id } errors { message } } }`, {
      input: {
        name: 'Sent',
        trigger: 'EVENT_RECEIVED',
        eventName: 'trial.started',
        steps: (await ws.gql(`query($id: ID!) { sequence(id: $id) { steps { type subject previewText blocks } } }`, { id: sequenceId }))
          .data.sequence.steps.filter((s: any) => s.type === 'EMAIL')
          .map((s: any) => ({ subject: s.subject, previewText: s.previewText, blocks: s.blocks })),
      },
    });
    const sentId = copy.data.createSequence.sequence.id;
    await ws.gql(`mutation($id: ID!) { enableSequence(id: $id) { errors { message } } }`, { id: sentId });
    const preview = (await ws.gql(PREVIEW, { id: sentId, email: 'grace@example.com', props: { plan: 'Team' } })).data.previewSequence;
    await ws.gql(`mutation($input: TrackEventInput!) { trackEvent(input: $input) { errors { message } } }`, {
      input: { email: 'grace@example.com', event: 'trial.started', properties: { plan: 'Team' } },
    });
    const [sent] = await t.smtp.waitFor(1);
    // Only the per-message tracking URLs differ (message id and signature, not the workspace): mask those.
    const lf = (s: string) =>
      s
        .replace(/\r\n/g, '\n')
        .replace(/\/t\/([ocu])\/([0-9a-f]{32})\/[0-9a-f]{32}\/[A-Za-z0-9_-]{22}/g, '/t/$1/$2/<message>') // same workspace
        .trim();
    expect(preview[0].html).toMatch(/\/t\/o\/[0-9a-f]{32}\//);
    expect(sent!.subject).toBe(preview[0].subject);
    expect(lf(sent!.html as string)).toBe(lf(preview[0].html));
    expect(lf(sent!.text!)).toBe(lf(preview[0].text));
  });
});
