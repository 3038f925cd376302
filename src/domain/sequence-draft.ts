// Drafting a sequence from a goal. Pure: what a generator is asked (the request),
// what it must give back (emails with valid blocks), the delays between the emails,
// and the built-in deterministic writer used when no language model is configured.
import { escapeHtml } from './escape-html.js';
import { z } from 'zod';
import { DEFAULT_FOOTER_TEXT, normalizeBlocks, type Block, type BlockInput } from './blocks.js';
import type { Delay } from './delay.js';
import type { TriggerType } from './sequence-input.js';

export interface DraftTrigger {
  type: TriggerType;
  eventName?: string | null;
  tagName?: string | null;
  inactiveDays?: number | null;
}

export interface DraftRequest {
  goal: string;
  emailCount: number;
  sequenceName: string;
  trigger: DraftTrigger;
}

export interface DraftEmail {
  subject: string;
  previewText: string;
  blocks: Block[];
  delay: Delay;
}

/** Writes the emails of a draft. Throws DraftGenerationError with a reason a person can act on. */
export interface SequenceGenerator {
  readonly name: string;
  generate(request: DraftRequest): Promise<DraftEmail[]>;
}

/** A draft could not be written; the message is stored as the sequence's generationError. */
export class DraftGenerationError extends Error {
  override name = 'DraftGenerationError';
}

/**
 * Days to wait before each email (after the previous one): the first goes out at
 * once, then the gaps grow, so a ten-email series spans about three months.
 */
export const DRAFT_GAPS_IN_DAYS = [0, 1, 2, 3, 5, 7, 10, 14, 21, 30] as const;

export function draftDelays(count: number): Delay[] {
  return Array.from({ length: count }, (_, i) => ({
    days: DRAFT_GAPS_IN_DAYS[Math.min(i, DRAFT_GAPS_IN_DAYS.length - 1)]!,
    hours: 0,
    minutes: 0,
  }));
}

/** What kind of series the trigger calls for. */
export type DraftKind = 'welcome' | 'follow-up' | 'win-back';

export function draftKind(trigger: DraftTrigger): DraftKind {
  switch (trigger.type) {
    case 'EVENT_RECEIVED':
    case 'FREQUENCY':
      return 'follow-up';
    case 'INACTIVITY':
      return 'win-back';
    default:
      return 'welcome';
  }
}

// ------------------------------------------------------------ a generator's answer

const draftEmailAnswer = z.object({
  subject: z.string().trim().min(1, { message: 'must not be empty' }).max(200),
  previewText: z.string().trim().max(500).nullish(),
  blocks: z.array(z.unknown()).min(1, { message: 'an email needs at least one block' }),
});

const draftAnswerSchema = z.object({ emails: z.array(draftEmailAnswer).min(1) });

/** The JSON shape a language model is asked for (also shown to it in the prompt). */
export const DRAFT_ANSWER_SHAPE =
  '{"emails":[{"subject":"…","previewText":"…","blocks":[{"type":"heading","text":"…"},{"type":"text","text":"…"},{"type":"footer"}]}]}';

/**
 * Checks a generator's JSON answer: exactly `emailCount` emails, each with a subject
 * and blocks valid per the block model (a footer is added when missing). Delays come
 * from `draftDelays`, not from the answer. Throws DraftGenerationError naming the
 * first problems, e.g. `emails.1.blocks.2.url: must be an http(s) or mailto URL …`.
 */
export function parseDraftAnswer(answer: unknown, emailCount: number): DraftEmail[] {
  const parsed = draftAnswerSchema.safeParse(answer);
  if (!parsed.success) throw new DraftGenerationError(describeIssues(parsed.error.issues));
  const { emails } = parsed.data;
  if (emails.length !== emailCount) {
    throw new DraftGenerationError(`emails: expected ${emailCount} emails, got ${emails.length}`);
  }
  const delays = draftDelays(emailCount);
  return emails.map((email, i) => {
    const withFooter = email.blocks.some((b) => isFooter(b)) ? email.blocks : [...email.blocks, { type: 'footer' }];
    let blocks: Block[];
    try {
      blocks = normalizeBlocks(withFooter);
    } catch (error) {
      if (!(error instanceof z.ZodError)) throw error;
      throw new DraftGenerationError(describeIssues(error.issues, ['emails', i, 'blocks']));
    }
    return { subject: email.subject, previewText: email.previewText ?? '', blocks, delay: delays[i]! };
  });
}

function isFooter(block: unknown): boolean {
  return typeof block === 'object' && block !== null && (block as { type?: unknown }).type === 'footer';
}

function describeIssues(issues: readonly z.core.$ZodIssue[], prefix: (string | number)[] = []): string {
  const shown = issues.slice(0, 3).map((issue) => {
    const path = [...prefix, ...issue.path].map(String).join('.');
    return path ? `${path}: ${issue.message}` : issue.message;
  });
  const more = issues.length > 3 ? ` (and ${issues.length - 3} more)` : '';
  return `${shown.join('; ')}${more}`;
}

// ------------------------------------------------------------ the built-in writer

const GREETING = '{{subscriber.firstName|there}}';

interface EmailIdea {
  subject: string;
  previewText: string;
  heading: string;
  /** Paragraphs (inline HTML); `{goal}` stands for the goal, escaped. */
  paragraphs: string[];
  list?: string[];
}

const IDEAS: Record<DraftKind, { opening: EmailIdea; middle: EmailIdea[]; closing: EmailIdea }> = {
  welcome: {
    opening: {
      subject: `Welcome, ${GREETING}!`,
      previewText: 'Glad you are here. This is what the next emails are about.',
      heading: `Welcome aboard, ${GREETING}`,
      paragraphs: [
        'Thanks for joining us. Over the next few emails we will help you with one thing: {goal}.',
        'Each email is short and gives you one step to take. Reply any time: a real person reads every answer.',
      ],
    },
    middle: [
      {
        subject: 'Your first step',
        previewText: 'The quickest way to get going, in a few minutes.',
        heading: 'Start with one small step',
        paragraphs: ['The people who get the most out of this start small. Today, take one step towards this: {goal}.'],
        list: ['Set aside ten minutes', 'Do the first step while it is fresh', 'Tell us by reply if anything is in the way'],
      },
      {
        subject: 'A tip most people miss',
        previewText: 'One habit that makes the difference.',
        heading: 'A tip most people miss',
        paragraphs: [
          'Coming back regularly matters more than doing everything at once. A few minutes a week keeps you moving towards this: {goal}.',
        ],
      },
      {
        subject: 'How others get there',
        previewText: 'What the people who succeed do differently.',
        heading: 'How others get there',
        paragraphs: ['Those who reach their goal share a pattern: they pick one thing, finish it, then pick the next.'],
        list: ['Pick one thing', 'Finish it', 'Then pick the next'],
      },
      {
        subject: 'Questions? We have answers',
        previewText: 'The questions we hear most, answered.',
        heading: `Any questions, ${GREETING}?`,
        paragraphs: [
          'By now you may have a question or two. Reply to this email with yours: we answer every one, usually within a day.',
        ],
      },
      {
        subject: 'Getting more out of it',
        previewText: 'A few ideas for the next step.',
        heading: 'Getting more out of it',
        paragraphs: ['Once the basics are in place, the next step is easier than it looks. Keep this in mind: {goal}.'],
      },
      {
        subject: 'Your progress so far',
        previewText: 'A moment to look back, and ahead.',
        heading: 'Look how far you have come',
        paragraphs: ['Take a moment to see what you have done so far. Every step counts, even the small ones.'],
      },
      {
        subject: 'A shortcut worth knowing',
        previewText: 'Save time on what you do most.',
        heading: 'A shortcut worth knowing',
        paragraphs: ['Most of the time goes into a few repeated tasks. Make those faster and everything else follows.'],
      },
      {
        subject: `Still with us, ${GREETING}?`,
        previewText: 'Checking in, in case life got busy.',
        heading: 'Checking in',
        paragraphs: ['Life gets busy, we know. If you paused, this is a good moment to pick up where you left off.'],
      },
    ],
    closing: {
      subject: 'One last thing',
      previewText: 'The last email of this series.',
      heading: `Thanks for reading, ${GREETING}`,
      paragraphs: [
        'This is the last email in this series. We hope it helped you with this: {goal}.',
        'You will still hear from us now and then. Reply any time if we can help.',
      ],
    },
  },
  'follow-up': {
    opening: {
      subject: `Thanks, ${GREETING}`,
      previewText: 'A quick follow-up on what you just did.',
      heading: `Thanks, ${GREETING}`,
      paragraphs: [
        'We saw your recent activity and wanted to follow up right away.',
        'Here is what we would like to help you with next: {goal}.',
      ],
    },
    middle: [
      {
        subject: 'What happens next',
        previewText: 'The next step, explained in a minute.',
        heading: 'What happens next',
        paragraphs: ['There is one natural next step from here. When you are ready, this is where to go: {goal}.'],
        list: ['Take a look when you have a moment', 'Reply with any question', 'We are happy to help'],
      },
      {
        subject: 'Did everything go smoothly?',
        previewText: 'We would love to hear how it went.',
        heading: 'Did everything go smoothly?',
        paragraphs: ['We want every step to be easy. If anything did not go as expected, reply and tell us: we read every answer.'],
      },
      {
        subject: 'A tip for the next step',
        previewText: 'Make the most of what you started.',
        heading: 'A tip for the next step',
        paragraphs: ['Following up soon makes the difference. A few minutes now keeps you moving towards this: {goal}.'],
      },
      {
        subject: 'People like you also did this',
        previewText: 'What others did after the same step.',
        heading: 'What others did next',
        paragraphs: ['Many people in your position took the next step within a week, and were glad they did.'],
      },
      {
        subject: 'Any questions so far?',
        previewText: 'We are one reply away.',
        heading: `Any questions, ${GREETING}?`,
        paragraphs: ['If something is unclear, reply to this email. A real person will get back to you.'],
      },
      {
        subject: 'A quick reminder',
        previewText: 'In case this slipped through.',
        heading: 'A quick reminder',
        paragraphs: ['In case this slipped through: the next step is still waiting for you whenever you are ready.'],
      },
      {
        subject: 'Worth a second look',
        previewText: 'One more reason to take the next step.',
        heading: 'Worth a second look',
        paragraphs: ['If you have not had a chance yet, it is worth a second look. It takes only a few minutes.'],
      },
      {
        subject: 'Still interested?',
        previewText: 'Let us know either way.',
        heading: 'Still interested?',
        paragraphs: ['If now is not the right time, that is fine. Reply and let us know, and we will adjust.'],
      },
    ],
    closing: {
      subject: 'Last follow-up',
      previewText: 'The last email on this topic.',
      heading: `One last note, ${GREETING}`,
      paragraphs: [
        'This is our last follow-up on this. We hope it helped you with this: {goal}.',
        'If you ever want to pick it up again, just reply.',
      ],
    },
  },
  'win-back': {
    opening: {
      subject: `We miss you, ${GREETING}`,
      previewText: 'It has been a while. Here is what you missed.',
      heading: `We miss you, ${GREETING}`,
      paragraphs: ['{absence} We would love to see you back.', 'Here is what we would like to help you with: {goal}.'],
    },
    middle: [
      {
        subject: 'Here is what you missed',
        previewText: 'A few things changed since your last visit.',
        heading: 'Here is what you missed',
        paragraphs: ['A few things have changed since you last visited. Coming back takes only a minute.'],
        list: ['Pick up where you left off', 'See what is new', 'Reply if anything stood in your way'],
      },
      {
        subject: 'Was it something we did?',
        previewText: 'Tell us, and we will fix it.',
        heading: 'Was it something we did?',
        paragraphs: ['If something did not work for you, we want to know. Reply with one line: we read every answer.'],
      },
      {
        subject: 'Come back for a quick look',
        previewText: 'Just a few minutes.',
        heading: 'Come back for a quick look',
        paragraphs: ['A quick look is all it takes to get going again. And remember what this is about: {goal}.'],
      },
      {
        subject: 'We kept your place',
        previewText: 'Everything is where you left it.',
        heading: 'We kept your place',
        paragraphs: ['Everything is still where you left it. Whenever you come back, you can continue right away.'],
      },
      {
        subject: 'Others came back too',
        previewText: 'And they were glad they did.',
        heading: 'Others came back too',
        paragraphs: ['Many people take a break and come back later. Most tell us the return was easier than expected.'],
      },
      {
        subject: 'A small nudge',
        previewText: 'In case you were meaning to come back.',
        heading: 'A small nudge',
        paragraphs: ['If you have been meaning to come back, consider this your sign.'],
      },
      {
        subject: 'Is now a better time?',
        previewText: 'No pressure, just checking.',
        heading: 'Is now a better time?',
        paragraphs: ['Timing is everything. If now works better than before, we are here.'],
      },
      {
        subject: 'Should we stay in touch?',
        previewText: 'Let us know what you prefer.',
        heading: 'Should we stay in touch?',
        paragraphs: ['We do not want to crowd your inbox. If these emails are not useful, unsubscribing is one click below.'],
      },
    ],
    closing: {
      subject: 'Goodbye for now?',
      previewText: 'The last email of this series.',
      heading: `Goodbye for now, ${GREETING}?`,
      paragraphs: [
        'This is the last email we send about this. We hope to see you back, and to help you with this: {goal}.',
        'If you want to come back later, you are always welcome.',
      ],
    },
  },
};

/** The goal as it goes into copy: one line, no markup, no merge tags, at most 200 characters. */
export function goalForCopy(goal: string): string {
  let text = goal.replace(/\s+/g, ' ').replace(/[{}]/g, '').trim().replace(/[.!?;:,\s]+$/, '');
  if (text.length > 200) text = `${text.slice(0, 200).replace(/\s+\S*$/, '')}…`;
  return escapeHtml(text);
}

/**
 * A usable draft without a language model: a welcome/onboarding series for contact,
 * tag, segment and manual triggers, a follow-up for event triggers, a win-back for
 * inactivity. Greets with `{{subscriber.firstName|there}}`, uses no `{{event.…}}` tags
 * (the event's fields are unknown), and ends every email with a footer.
 */
export function writeBuiltinDraft(request: DraftRequest): DraftEmail[] {
  const count = Math.max(1, Math.min(10, Math.trunc(request.emailCount)));
  const ideas = IDEAS[draftKind(request.trigger)];
  const chosen =
    count === 1 ? [ideas.opening] : [ideas.opening, ...ideas.middle.slice(0, count - 2), ideas.closing];
  const goal = goalForCopy(request.goal);
  const days = request.trigger.inactiveDays;
  const absence = days ? `It has been more than ${days} days since we last saw you.` : 'It has been a while since we last saw you.';
  const fill = (s: string) => s.replace('{goal}', goal ? `<b>${goal}</b>` : 'getting started').replace('{absence}', absence);
  const delays = draftDelays(count);
  return chosen.map((idea, i) => {
    const blocks: BlockInput[] = [
      { type: 'heading', text: idea.heading },
      ...idea.paragraphs.map((p): BlockInput => ({ type: 'text', text: fill(p) })),
      ...(idea.list ? [{ type: 'list', items: idea.list } as BlockInput] : []),
      { type: 'text', text: 'Talk soon,<br>The team', variant: 'muted' },
      { type: 'footer', text: DEFAULT_FOOTER_TEXT },
    ];
    return { subject: idea.subject, previewText: idea.previewText, blocks: normalizeBlocks(blocks), delay: delays[i]! };
  });
}
