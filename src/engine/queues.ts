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
} as const;

export const stepJobSchema = z.object({ enrollmentId: z.uuid(), stepId: z.uuid() });
export type StepJob = z.infer<typeof stepJobSchema>;

export const pauseTimeoutJobSchema = z.object({ enrollmentId: z.uuid(), pausedUntil: z.iso.datetime() });
export type PauseTimeoutJob = z.infer<typeof pauseTimeoutJobSchema>;

export const releaseQueuedJobSchema = z.object({ sequenceId: z.uuid().optional() });

export const inactivitySweepJobSchema = z.object({}).passthrough();
