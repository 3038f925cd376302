// The runtime: everything a Stepwise process runs on — the database, the job
// queue, the mail transport, the clock, the outbox — made once from the config
// and passed down (to buildApp, the workers, the services through the GraphQL
// context, the engine through its context parameter) instead of process globals.
//
// Time, per workspace. The runtime's `clock` is the process's (system time, or a
// test's fixed clock). Code that acts for a workspace asks `clockFor(workspaceId)`
// and runs on `{ ...runtime, clock }`: the GraphQL context does it per request
// (ctx.runtime), and an engine entry point called for one workspace (its test
// clock's advance loop, say) is simply handed `{ ...runtime, clock: virtualClock }`
// — every engine and service function reads time only from the context it is
// given, never from a global. A live workspace runs on the runtime's clock; a
// test twin's requests run on its test clock's frozen time, and advanceTestClock
// runs its due work on virtual clocks (engine/test-clock.ts).
import type PgBoss from 'pg-boss';
import { fixedClock, systemClock, type Clock } from './clock.js';
import type { Config } from './config.js';
import { createPrismaClient, notifierOf, type ClientOptions } from './db/client.js';
import { createBoss, startBoss, stopBoss } from './engine/boss.js';
import type { EngineContext } from './engine/context.js';
import { Outbox } from './engine/outbox.js';
import { readTestClock, stopAdvances } from './engine/test-clock.js';
import { testWorkspaces } from './engine/test-workspaces.js';
import type { StopLoops } from './engine/step-worker.js';
import { startWorkers, type WorkerOptions } from './engine/workers.js';
import type { PrismaClient } from './generated/prisma/client.js';
import { createGenerator } from './generation/generator.js';
import { DEFAULT_SHOPIFY_API_VERSION } from './integrations/shopify.js';
import { Integrations } from './integrations/settings.js';
import { TrackingLinks } from './mail/tracking-keys.js';
import { createMailer } from './mail/transport.js';
import { startChangeNotifier, stopChangeNotifier } from './realtime/change-notifier.js';

/** The settings a runtime reads (src/config.ts names); the database URL is the one opened. */
export type RuntimeConfig = { DATABASE_URL: string } & Partial<
  Pick<
    Config,
    | 'SMTP_URL'
    | 'TEST_SMTP_URL'
    | 'MAIL_FROM'
    | 'WORKER_CONCURRENCY'
    | 'STEPWISE_ROLE'
    | 'PUBLIC_URL'
    | 'STEPWISE_SECRET'
    | 'STRIPE_API_HOST'
    | 'STRIPE_API_PORT'
    | 'STRIPE_API_PROTOCOL'
    | 'SHOPIFY_API_URL'
    | 'SHOPIFY_API_VERSION'
    | 'LLM_BASE_URL'
    | 'LLM_API_KEY'
    | 'LLM_MODEL'
    | 'LLM_TIMEOUT_MS'
  >
>;

export interface RuntimeOptions {
  /** Engine time (default: the system clock). */
  clock?: Clock;
  /** A client to use instead of opening one (the runtime then leaves it connected on stop). */
  db?: PrismaClient;
  /** For the client the runtime opens: statement hook (tests count statements). */
  onQuery?: ClientOptions['onQuery'];
  /** Run the job handlers (default: unless STEPWISE_ROLE is api); false: only insert jobs. */
  workers?: WorkerOptions | false;
  /** pg-boss's cron scheduling and supervision (default: when running the workers). */
  schedule?: boolean;
  /**
   * LISTEN for the change log's NOTIFYs, which wake subscriptions (default: unless
   * STEPWISE_ROLE is worker). The listener stays the process's one (realtime/change-notifier.ts
   * keeps it, read by the feeds); the runtime starts and stops it.
   */
  notifier?: boolean;
  /** Background failures worth a log line (the change listener reconnecting). */
  onError?: (error: unknown) => void;
}

export interface Runtime extends EngineContext {
  /** Tracking links' settings (tests point them at their server's port). */
  tracking: TrackingLinks;
  /** Hand-offs to the relay after their batch committed, sized by WORKER_CONCURRENCY. */
  outbox: Outbox;
  /** The clock a workspace's work runs on (see the note at the top of this file). */
  clockFor(workspaceId: string): Promise<Clock>;
  /** Starts the queue (and the workers). */
  start(): Promise<void>;
  /** True between start() and stop(). */
  readonly running: boolean;
  /**
   * Stops in reverse order: the step loops finish their hand-offs (graceful), the
   * queue stops, the relay gets a QUIT, the database client closes (when owned).
   */
  stop(options?: { graceful?: boolean; timeout?: number }): Promise<void>;
}

export function createRuntime(config: RuntimeConfig, options: RuntimeOptions = {}): Runtime {
  const concurrency = config.WORKER_CONCURRENCY ?? 10;
  const runJobs = config.STEPWISE_ROLE !== 'api';
  const workers = options.workers ?? (runJobs ? {} : false);
  // Each step batch holds a connection for its transaction: size the pool to the workers.
  const db = options.db ?? createPrismaClient(config.DATABASE_URL, { max: concurrency + 5, onQuery: options.onQuery });
  const schedule = options.schedule ?? workers !== false;
  const boss: PgBoss = createBoss(config.DATABASE_URL, { schedule, supervise: schedule });
  // Half as many connections as send slots: a slot stays held while its message's SENT is
  // recorded, and meanwhile the connection carries another slot's message (nodemailer
  // queues it) instead of idling; five is the pool's own default and the relay's ceiling shape.
  const mail = createMailer(
    { smtpUrl: config.SMTP_URL, testSmtpUrl: config.TEST_SMTP_URL, from: config.MAIL_FROM, connections: Math.min(Math.ceil(concurrency / 2), 5) },
    db,
  );
  const clock = options.clock ?? systemClock;
  const notifier = options.notifier ?? config.STEPWISE_ROLE !== 'worker';
  let stopWorkers: StopLoops | undefined;
  let running = false;

  const runtime: Runtime = {
    db,
    boss,
    mail,
    clock,
    // Tracking links point at PUBLIC_URL, signed with a key from STEPWISE_SECRET (or one kept in the database).
    tracking: new TrackingLinks(db, { publicUrl: config.PUBLIC_URL ?? 'http://localhost:4000', secret: config.STEPWISE_SECRET }),
    integrations: new Integrations({
      stripe: {
        secret: config.STEPWISE_SECRET,
        host: config.STRIPE_API_HOST ?? 'api.stripe.com',
        port: config.STRIPE_API_PORT ?? 443,
        protocol: config.STRIPE_API_PROTOCOL ?? 'https',
      },
      shopify: { apiUrl: config.SHOPIFY_API_URL, apiVersion: config.SHOPIFY_API_VERSION ?? DEFAULT_SHOPIFY_API_VERSION },
    }),
    generator: createGenerator({
      baseUrl: config.LLM_BASE_URL,
      apiKey: config.LLM_API_KEY,
      model: config.LLM_MODEL,
      timeoutMs: config.LLM_TIMEOUT_MS,
    }),
    outbox: new Outbox(concurrency),
    async clockFor(workspaceId) {
      // Twin-ness never changes and is cached: a live workspace costs a map lookup.
      if (!(await testWorkspaces(db, [workspaceId])).has(workspaceId)) return runtime.clock;
      const state = await readTestClock(db, workspaceId);
      return state ? fixedClock(state.frozenTime) : runtime.clock;
    },
    get running() {
      return running;
    },
    async start() {
      await startBoss(boss);
      running = true;
      if (notifier) await startChangeNotifier(config.DATABASE_URL, options.onError, notifierOf(db));
      if (workers !== false) stopWorkers = await startWorkers(runtime, { listenUrl: config.DATABASE_URL, ...workers });
    },
    async stop(stopOptions = {}) {
      const graceful = stopOptions.graceful ?? true;
      running = false;
      if (notifier) await stopChangeNotifier();
      const stopping = stopWorkers?.({ graceful });
      stopWorkers = undefined;
      await stopping;
      // Test clocks being advanced here finish their moment and give their leases back.
      const advances = stopAdvances();
      if (graceful) await advances;
      await stopBoss(boss, { graceful, timeout: stopOptions.timeout ?? 10_000, wait: true });
      // The hand-offs are drained with the step loops: the relay gets a QUIT, not a reset.
      mail.transport.close();
      mail.test.close();
      if (!options.db) await db.$disconnect();
    },
  };
  return runtime;
}

/** The runtime as one workspace sees it: the same resources on that workspace's clock. */
export async function forWorkspace(runtime: Runtime, workspaceId: string): Promise<Runtime> {
  return { ...runtime, clock: await runtime.clockFor(workspaceId) };
}
