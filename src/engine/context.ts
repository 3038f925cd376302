// What the engine runs on, handed in by its caller instead of read from process
// globals: the database, the job queue, the mail transport, the clock, and the
// settings of tracking links, discount providers and the draft writer.
// src/runtime.ts builds one per process; a caller may pass a copy with another
// clock (`{ ...runtime, clock: workspaceClock }`) to run a workspace's work on
// that workspace's own time.
import type PgBoss from 'pg-boss';
import type { Clock } from '../clock.js';
import type { SequenceGenerator } from '../domain/sequence-draft.js';
import type { PrismaClient } from '../generated/prisma/client.js';
import type { Integrations } from '../integrations/settings.js';
import type { TrackingLinks } from '../mail/tracking-keys.js';
import type { Mailer } from '../mail/transport.js';

export interface EngineContext {
  db: PrismaClient;
  boss: PgBoss;
  mail: Mailer;
  /** Engine time: every "when" (delays, send windows, throttles, timestamps) is read from it. */
  clock: Clock;
  /** Tracking links' base URL and signing key. */
  tracking: Pick<TrackingLinks, 'keys'>;
  /** Discount providers' endpoints and the box sealing their secrets. */
  integrations: Integrations;
  /** Writes drafts of sequences created from a goal. */
  generator: SequenceGenerator;
}
