import { describe, expect, it } from 'vitest';
import { UserError } from '../../src/domain/errors.js';
import {
  canTransition,
  SEQUENCE_ACTIONS,
  SEQUENCE_STATUSES,
  transition,
  type SequenceAction,
  type SequenceStatus,
} from '../../src/domain/sequence-status.js';

describe('transition', () => {
  it.each<[SequenceStatus, SequenceAction, SequenceStatus, 'set' | 'clear' | 'keep']>([
    ['DRAFT', 'enable', 'ACTIVE', 'set'],
    ['DRAFT', 'archive', 'ARCHIVED', 'clear'],
    ['ACTIVE', 'disable', 'PAUSED', 'clear'],
    ['ACTIVE', 'archive', 'ARCHIVED', 'clear'],
    ['ACTIVE', 'enable', 'ACTIVE', 'keep'],
    ['PAUSED', 'enable', 'ACTIVE', 'set'],
    ['PAUSED', 'disable', 'PAUSED', 'keep'],
    ['PAUSED', 'archive', 'ARCHIVED', 'clear'],
  ])('%s --%s--> %s (enabledAt %s)', (from, action, status, enabledAt) => {
    expect(transition(from, action)).toEqual({ status, enabledAt });
    expect(canTransition(from, action)).toBe(true);
  });

  it.each<[SequenceStatus, SequenceAction]>([
    ['DRAFT', 'disable'],
    ['ARCHIVED', 'enable'],
    ['ARCHIVED', 'disable'],
    ['ARCHIVED', 'archive'],
  ])('rejects %s --%s-->', (from, action) => {
    expect(canTransition(from, action)).toBe(false);
    try {
      transition(from, action);
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(UserError);
      expect((error as UserError).code).toBe('INVALID_TRANSITION');
      expect((error as UserError).field).toEqual(['id']);
      expect((error as UserError).message).toContain(action);
    }
  });

  it('never leaves ARCHIVED and always reaches it from elsewhere', () => {
    for (const status of SEQUENCE_STATUSES) {
      for (const action of SEQUENCE_ACTIONS) {
        if (status === 'ARCHIVED') expect(canTransition(status, action)).toBe(false);
        if (status !== 'ARCHIVED' && action === 'archive') expect(transition(status, action).status).toBe('ARCHIVED');
      }
    }
  });

  it('returns a fresh object each time', () => {
    const a = transition('DRAFT', 'enable');
    a.status = 'PAUSED';
    expect(transition('DRAFT', 'enable').status).toBe('ACTIVE');
  });
});
