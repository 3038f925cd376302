// Queue names and the zod shape of each queue's job data: a job is validated
// when it is worked, never trusted as `job.data as Foo`.
import { z } from 'zod';

export const QUEUES = {
  /** Run one step of one run (its delay has passed). */
  step: 'stepwise.step',
  /** End a run paused by a reply once its pause is over (the PAUSE reply action). */
  pauseTimeout: 'stepwise.pause-timeout',
  /** Start queued runs when a day rolls over or capacity frees (throttles). */
  releaseQueued: 'stepwise.release-queued',
  /** Find subscribers that became inactive (INACTIVITY triggers); scheduled. */
  inactivitySweep: 'stepwise.inactivity-sweep',
  /** Write the steps of a sequence created from a goal (a language model or the built-in writer). */
  generateSequence: 'stepwise.generate-sequence',
} as const;

export type QueueName = (typeof QUEUES)[keyof typeof QUEUES];

/**
 * Queue settings that differ from the defaults in boss.ts. A draft may wait for a
 * language model twice (LLM_TIMEOUT_MS, at most 5 minutes each), so its job is given
 * longer than that before pg-boss takes it for dead; failures are stored on the
 * sequence, so a retry only happens after a crash.
 */
export const QUEUE_OPTIONS: Partial<Record<QueueName, { retryLimit?: number; expireInSeconds?: number }>> = {
  [QUEUES.generateSequence]: { retryLimit: 2, expireInSeconds: 15 * 60 },
};

export const stepJobSchema = z.object({ enrollmentId: z.uuid(), stepId: z.uuid() });
export type StepJob = z.infer<typeof stepJobSchema>;

export const pauseTimeoutJobSchema = z.object({ enrollmentId: z.uuid(), pausedUntil: z.iso.datetime() });
export type PauseTimeoutJob = z.infer<typeof pauseTimeoutJobSchema>;

export const releaseQueuedJobSchema = z.object({ sequenceId: z.uuid().optional() });

export const inactivitySweepJobSchema = z.object({}).passthrough();

export const generateSequenceJobSchema = z.object({ sequenceId: z.uuid() });
export type GenerateSequenceJob = z.infer<typeof generateSequenceJobSchema>;
