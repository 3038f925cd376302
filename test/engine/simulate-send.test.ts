// A simulated email is the email the engine sends: the same step, subscriber and
// entry event, simulated and then really sent to the SMTP sink, give the same
// subject, preview text, HTML and text (only the per-message tracking links differ:
// a simulation's stand in for a message that does not exist).
import { beforeAll, describe, expect, it } from 'vitest';
import { useTestEngine } from '../helpers/engine.js';
import { engineApi } from './support.js';

const t = await useTestEngine();
let api: ReturnType<typeof engineApi>;

beforeAll(async () => {
  api = engineApi(t, await t.workspace());
});

/** Each signed tracking link (click, open, unsubscribe) of a message, replaced by its kind. */
const untracked = (s: string) => s.replace(/https?:\/\/[^\s"'<>]*\/t\/([ocu])\/[0-9a-f]{32}\/[0-9a-f]{32}\/[A-Za-z0-9_-]{22}(\.gif)?/g, 'TRACKED-$1');

describe('simulateSequence renders what the engine sends', () => {
  it('gives the HTML and text of a real send of the same step', async () => {
    const steps = [
      {
        subject: 'Hi {{subscriber.firstName|there}}, your {{event.plan}} plan',
        previewText: 'From {{event.city|nowhere}}',
        blocks: [
          { type: 'heading', text: 'Welcome {{subscriber.firstName}}' },
          { type: 'text', text: 'Your city: {{event.city}}. Attribute: {{subscriber.company|none}}' },
          { type: 'button', text: 'Start', url: 'https://example.com/start?plan={{event.plan}}' },
        ],
      },
    ];
    const sequenceId = await api.sequence({ name: 'Rendered', trigger: 'EVENT_RECEIVED', eventName: 'signed_up', steps });
    const subscriberId = await api.subscriber({ email: 'render@example.com', firstName: 'Ada', attributes: { company: 'Analytical' } });
    const properties = { plan: 'pro', city: 'Berlin' };

    const simulated = await api.ws.gql(
      `mutation($input: SimulateSequenceInput!) { simulateSequence(input: $input) { timeline { outcome subject previewText html text } errors { message } } }`,
      { input: { sequenceId, subscriberId, event: 'signed_up', properties } },
    );
    expect(simulated.data.simulateSequence.errors).toEqual([]);
    const sim = simulated.data.simulateSequence.timeline.find((e: { outcome: string }) => e.outcome === 'SENT');

    await api.track({ subscriberId, event: 'signed_up', properties });
    const [mail] = await api.waitForMail('render@example.com', 1);
    const stored = await t.prisma.message.findFirstOrThrow({ where: { to: 'render@example.com' } });

    expect(sim.subject).toBe(mail!.subject);
    expect(sim.subject).toBe('Hi Ada, your pro plan');
    expect(sim.previewText).toBe(stored.previewText);
    expect(untracked(sim.html)).toBe(untracked(stored.html));
    expect(untracked(sim.html)).toBe(untracked(mail!.html as string));
    expect(untracked(sim.text)).toBe(untracked(stored.text ?? ''));
    expect(untracked(sim.html)).toContain('TRACKED-c');
    expect(untracked(sim.html)).toContain('TRACKED-o');
  });
});
