import { UserError } from './errors.js';

export const SEQUENCE_STATUSES = ['DRAFT', 'ACTIVE', 'PAUSED', 'ARCHIVED'] as const;
export type SequenceStatus = (typeof SEQUENCE_STATUSES)[number];

export const SEQUENCE_ACTIONS = ['enable', 'disable', 'archive'] as const;
export type SequenceAction = (typeof SEQUENCE_ACTIONS)[number];

/** What the caller should do with the sequence's `enabledAt` timestamp. */
export type EnabledAtChange = 'set' | 'clear' | 'keep';

export interface StatusTransition {
  status: SequenceStatus;
  enabledAt: EnabledAtChange;
}

/*
 * DRAFT → ACTIVE (enable); ACTIVE ⇄ PAUSED (disable / enable); any non-archived → ARCHIVED.
 * Re-enabling an ACTIVE or re-disabling a PAUSED sequence is a no-op rather than an
 * error so retried mutations are safe. ARCHIVED is final.
 */
const TRANSITIONS: Record<SequenceStatus, Partial<Record<SequenceAction, StatusTransition>>> = {
  DRAFT: {
    enable: { status: 'ACTIVE', enabledAt: 'set' },
    archive: { status: 'ARCHIVED', enabledAt: 'clear' },
  },
  ACTIVE: {
    enable: { status: 'ACTIVE', enabledAt: 'keep' },
    disable: { status: 'PAUSED', enabledAt: 'clear' },
    archive: { status: 'ARCHIVED', enabledAt: 'clear' },
  },
  PAUSED: {
    enable: { status: 'ACTIVE', enabledAt: 'set' },
    disable: { status: 'PAUSED', enabledAt: 'keep' },
    archive: { status: 'ARCHIVED', enabledAt: 'clear' },
  },
  ARCHIVED: {},
};

export function canTransition(current: SequenceStatus, action: SequenceAction): boolean {
  return TRANSITIONS[current]?.[action] !== undefined;
}

/** Next status for `action`, or a UserError (INVALID_TRANSITION) when not allowed. */
export function transition(current: SequenceStatus, action: SequenceAction): StatusTransition {
  const next = TRANSITIONS[current]?.[action];
  if (!next) {
    throw new UserError(
      `Cannot ${action} a sequence that is ${current.toLowerCase()}`,
      ['id'],
      'INVALID_TRANSITION',
    );
  }
  return { ...next };
}
