import { describe, expect, it } from 'vitest';
import { normalizeBlocks } from '../../src/domain/blocks.js';
import {
  DraftGenerationError,
  draftDelays,
  draftKind,
  goalForCopy,
  parseDraftAnswer,
  writeBuiltinDraft,
  type DraftRequest,
  type DraftTrigger,
} from '../../src/domain/sequence-draft.js';
import { stepSchema, TRIGGER_TYPES } from '../../src/domain/sequence-input.js';

const request = (trigger: DraftTrigger, emailCount = 5, goal = 'Get new users to send their first campaign'): DraftRequest => ({
  goal,
  emailCount,
  sequenceName: 'Onboarding',
  trigger,
});

const allText = (blocks: unknown) => JSON.stringify(blocks);

describe('draftDelays', () => {
  it('sends the first email at once, then waits longer between each of the next', () => {
    const days = draftDelays(10).map((d) => d.days);
    expect(days[0]).toBe(0);
    for (let i = 2; i < days.length; i++) expect(days[i]!).toBeGreaterThan(days[i - 1]!);
    expect(draftDelays(3)).toEqual([
      { days: 0, hours: 0, minutes: 0 },
      { days: 1, hours: 0, minutes: 0 },
      { days: 2, hours: 0, minutes: 0 },
    ]);
  });
});

describe('writeBuiltinDraft', () => {
  it.each(TRIGGER_TYPES.flatMap((type) => [1, 2, 5, 10].map((count) => [type, count] as const)))(
    '%s with %i emails: that many valid emails with distinct subjects, each ending with a footer',
    (type, count) => {
      const emails = writeBuiltinDraft(request({ type, eventName: 'order.placed', tagName: 'trial', inactiveDays: 30 }, count));
      expect(emails).toHaveLength(count);
      expect(new Set(emails.map((e) => e.subject)).size).toBe(count);
      expect(emails.map((e) => e.delay)).toEqual(draftDelays(count));
      for (const email of emails) {
        // Valid exactly as a step given through the API would be.
        const step = stepSchema.parse({ subject: email.subject, previewText: email.previewText, blocks: email.blocks, delay: email.delay });
        expect(step.blocks).toEqual(email.blocks);
        expect(normalizeBlocks(email.blocks)).toEqual(email.blocks);
        expect(email.blocks.at(-1)).toMatchObject({ type: 'footer' });
        expect(email.previewText.length).toBeGreaterThan(0);
      }
      expect(emails[0]!.subject).toContain('{{subscriber.firstName|there}}');
    },
  );

  it('writes a welcome for new contacts, a follow-up for events and a win-back for inactivity', () => {
    expect(draftKind({ type: 'CONTACT_ADDED' })).toBe('welcome');
    expect(draftKind({ type: 'TAG_ADDED' })).toBe('welcome');
    expect(draftKind({ type: 'EVENT_RECEIVED' })).toBe('follow-up');
    expect(draftKind({ type: 'FREQUENCY' })).toBe('follow-up');
    expect(draftKind({ type: 'INACTIVITY' })).toBe('win-back');

    const welcome = writeBuiltinDraft(request({ type: 'CONTACT_ADDED' }, 3));
    expect(welcome[0]!.subject).toBe('Welcome, {{subscriber.firstName|there}}!');
    const followUp = writeBuiltinDraft(request({ type: 'EVENT_RECEIVED', eventName: 'order.placed' }, 3));
    expect(followUp[0]!.subject).toBe('Thanks, {{subscriber.firstName|there}}');
    expect(followUp.at(-1)!.subject).toBe('Last follow-up');
    const winBack = writeBuiltinDraft(request({ type: 'INACTIVITY', inactiveDays: 45 }, 3));
    expect(winBack[0]!.subject).toBe('We miss you, {{subscriber.firstName|there}}');
    expect(allText(winBack[0]!.blocks)).toContain('more than 45 days');
  });

  it('puts the goal into the copy, and no event merge tags (the event fields are unknown)', () => {
    for (const type of TRIGGER_TYPES) {
      const emails = writeBuiltinDraft(request({ type, eventName: 'signed_up' }, 10));
      expect(allText(emails[0]!.blocks)).toContain('<b>Get new users to send their first campaign</b>');
      expect(allText(emails.at(-1)!.blocks)).toContain('Get new users to send their first campaign');
      expect(allText(emails)).not.toContain('{{event.');
      expect(allText(emails)).toContain('{{subscriber.firstName|there}}');
    }
  });

  it('is deterministic', () => {
    const r = request({ type: 'EVENT_RECEIVED', eventName: 'signed_up' }, 7);
    expect(writeBuiltinDraft(r)).toEqual(writeBuiltinDraft(r));
  });

  it('keeps a goal with markup, merge-tag braces or great length harmless', () => {
    expect(goalForCopy('  Sell <script>x</script> & {{subscriber.email}} more.  ')).toBe(
      'Sell &lt;script&gt;x&lt;/script&gt; &amp; subscriber.email more',
    );
    const long = goalForCopy(`${'word '.repeat(100)}end`);
    expect(long.length).toBeLessThanOrEqual(201);
    expect(long.endsWith('word…')).toBe(true);
    const emails = writeBuiltinDraft(request({ type: 'MANUAL' }, 2, '<img src=x onerror=alert(1)> {{event.secret}}'));
    expect(allText(emails)).not.toContain('<img');
    expect(allText(emails)).not.toContain('{{event.');
  });
});

describe('parseDraftAnswer', () => {
  const email = (subject: string, blocks: unknown[] = [{ type: 'text', text: 'Hi {{subscriber.firstName|there}}' }]) => ({
    subject,
    previewText: 'Preview',
    blocks,
  });

  it('accepts the asked number of emails, adds a missing footer and the delays', () => {
    const emails = parseDraftAnswer({ emails: [email('One'), email('Two', [{ type: 'heading', text: 'Hey' }, { type: 'footer', text: 'Bye' }])] }, 2);
    expect(emails.map((e) => [e.subject, e.previewText, e.delay.days])).toEqual([
      ['One', 'Preview', 0],
      ['Two', 'Preview', 1],
    ]);
    expect(emails[0]!.blocks).toEqual([
      { id: 'b1', type: 'text', text: 'Hi {{subscriber.firstName|there}}', variant: 'body' },
      { id: 'b2', type: 'footer', text: 'You are receiving this because you subscribed.' },
    ]);
    expect(emails[1]!.blocks.map((b) => b.type)).toEqual(['heading', 'footer']);
  });

  it.each([
    [null, 'expected object'],
    [{ mails: [] }, 'emails:'],
    [{ emails: [email('One')] }, 'emails: expected 2 emails, got 1'],
    [{ emails: [email(''), email('Two')] }, 'emails.0.subject: must not be empty'],
    [{ emails: [email('One'), email('Two', [{ type: 'button', text: 'Go', url: 'javascript:alert(1)' }])] }, 'emails.1.blocks.0.url: must be an http(s) or mailto URL'],
    [{ emails: [email('One'), email('Two', [{ type: 'video', src: 'x' }])] }, 'emails.1.blocks.0'],
  ])('refuses %j, naming the problem', (answer, message) => {
    expect(() => parseDraftAnswer(answer, 2)).toThrow(DraftGenerationError);
    expect(() => parseDraftAnswer(answer, 2)).toThrow(message);
  });
});
