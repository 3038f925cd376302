// What an opt-out does to a subscriber's runs: one rule for the tracking and
// feedback services (real unsubscribes, complaints, bounces) and the simulation.

export type OptOut = 'unsubscribed' | 'complained' | 'bounced';

/** The subscriber's status after the opt-out. */
export function statusAfterOptOut(optOut: OptOut): 'UNSUBSCRIBED' | 'BOUNCED' {
  return optOut === 'bounced' ? 'BOUNCED' : 'UNSUBSCRIBED';
}

/**
 * Whether the opt-out ends an open run of the sequence: a hard bounce ends every
 * run (the address takes no mail), an unsubscribe or complaint only those of
 * non-transactional sequences (receipts and the like still go out).
 */
export function optOutEndsRun(optOut: OptOut, sequence: { transactional: boolean }): boolean {
  return optOut === 'bounced' || !sequence.transactional;
}
