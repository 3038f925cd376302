// The machine's view of a sequence from its stored settings and live steps: one
// mapping for the engine (rows it loads) and the simulation (a saved sequence's
// rows, or an unsaved one's input shaped like them).
import { delayToSeconds } from '../delay.js';
import type { SendWindow } from '../schedule.js';
import type { MachineSequence, MachineStep } from './index.js';

export interface SequenceSettingsRow {
  id: string;
  status: MachineSequence['status'];
  sequenceType: NonNullable<MachineSequence['sequenceType']>;
  dateFieldPath: string | null;
  /** JSON as stored: a SendWindow or null. */
  sendWindow: unknown;
  transactional: boolean;
  primaryReplyAction: MachineSequence['primaryReplyAction'];
  primaryReplyPauseDuration: number | null;
  secondaryReplyAction: MachineSequence['secondaryReplyAction'];
  secondaryReplyPauseDuration: number | null;
  throttleCapacity: number | null;
}

export interface StepTimingRow {
  id: string;
  position: number;
  type: MachineStep['type'];
  delayDays: number;
  delayHours: number;
  delayMinutes: number;
  dateOffsetMinutes: number | null;
}

/** `steps`: the sequence's live steps, in position order. */
export function toMachineSequence(s: SequenceSettingsRow, steps: readonly StepTimingRow[]): MachineSequence {
  return {
    id: s.id,
    status: s.status,
    sequenceType: s.sequenceType,
    dateFieldPath: s.dateFieldPath,
    sendWindow: (s.sendWindow ?? null) as SendWindow | null,
    transactional: s.transactional,
    primaryReplyAction: s.primaryReplyAction,
    primaryReplyPauseSeconds: s.primaryReplyPauseDuration,
    secondaryReplyAction: s.secondaryReplyAction,
    secondaryReplyPauseSeconds: s.secondaryReplyPauseDuration,
    throttleCapacity: s.throttleCapacity,
    steps: steps.map((st) => ({
      id: st.id,
      position: st.position,
      type: st.type,
      delaySeconds: delayToSeconds({ days: st.delayDays, hours: st.delayHours, minutes: st.delayMinutes }),
      dateOffsetMinutes: st.dateOffsetMinutes,
    })),
  };
}
