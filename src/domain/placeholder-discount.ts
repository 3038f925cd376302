// The discount an email shows before its code exists: a preview or a simulation
// makes no real code (that happens when the step runs), so merge tags show a
// stand-in with the step's terms.
import type { MergeTagContext } from './merge-tags.js';
import type { DiscountTerms } from './sequence-input.js';

export const PLACEHOLDER_CODE = 'PREVIEW';

/** The stand-in for a CREATE_DISCOUNT step issued at `issuedAt` (null: unknown, no relative expiry). */
export function placeholderDiscount(terms: DiscountTerms, issuedAt: Date | null): NonNullable<MergeTagContext['discount']> {
  return {
    code: `${terms.codePrefix ? `${terms.codePrefix}-` : ''}${PLACEHOLDER_CODE}`,
    percentOff: terms.percentOff ?? null,
    amountOff: terms.amountOff ?? null,
    currency: terms.currency ?? null,
    expiresAt: terms.expiresAt
      ? new Date(terms.expiresAt)
      : terms.expiresInHours && issuedAt
        ? new Date(issuedAt.getTime() + terms.expiresInHours * 3_600_000)
        : null,
  };
}
