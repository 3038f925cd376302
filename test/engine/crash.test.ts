// The worker process is killed (SIGKILL, twice, while emails are going out) and
// started again: every email of every run arrives, and the database records
// exactly one sent message per run and step.
//
// The real server runs as a child process in the worker role; this process only
// enrolls the subscribers, receives the mail (a local SMTP server) and watches.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { resolve } from 'node:path';
import PgBoss from 'pg-boss';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createWorkspaceWithKey } from '../../src/auth/api-keys.js';
import { encodeId } from '../../src/domain/public-id.js';
import { enrollSubscriber } from '../../src/services/runs.js';
import { changeSequenceStatus, createSequence } from '../../src/services/sequences.js';
import { useTestRuntime } from '../helpers/runtime.js';
import { startSmtpSink } from '../helpers/smtp-sink.js';
import { waitFor } from '../helpers/wait-for.js';

const SUBSCRIBERS = 200;
const STEPS = 3;
const TOTAL = SUBSCRIBERS * STEPS;
const ROOT = resolve(import.meta.dirname, '../..');

const smtp = await startSmtpSink();
// This process inserts jobs (enrolling) and supervises the queue: every second it
// turns jobs whose worker died (active past their expiration) into retries. The
// worker processes supervise too, but only every two minutes.
const { url, prisma, runtime } = await useTestRuntime();
const supervisor = new PgBoss({ connectionString: url, max: 2, schedule: false, supervise: true, maintenanceIntervalSeconds: 1 });
supervisor.on('error', (error) => console.error('supervisor', error));
await supervisor.start();

let worker: ChildProcess | undefined;
let output = '';
afterAll(async () => {
  if (worker && worker.exitCode === null && worker.signalCode === null) {
    worker.kill('SIGKILL');
    await once(worker, 'exit');
  }
  await supervisor.stop({ graceful: false, wait: true });
  await smtp.close();
});

function startWorker(): ChildProcess {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    STEPWISE_ROLE: 'worker',
    DATABASE_URL: url,
    SMTP_URL: smtp.url,
    MAIL_FROM: 'Stepwise Test <test@stepwise.test>',
    WORKER_CONCURRENCY: '8',
    LOG_LEVEL: 'warn',
    NODE_ENV: 'test',
  };
  delete env.STEPWISE_API_KEY;
  delete env.NODE_OPTIONS;
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.on('data', (chunk) => (output += chunk));
  child.stderr!.on('data', (chunk) => (output += chunk));
  return child;
}

/** A real kill: the process gets no chance to finish, commit or clean up. */
async function killWorker(child: ChildProcess) {
  const exited = once(child, 'exit');
  child.kill('SIGKILL');
  const [code, signal] = await exited;
  expect({ code, signal }).toEqual({ code: null, signal: 'SIGKILL' });
  // The dead process's jobs stay "active" until they expire (two minutes). Time is
  // moved forward for them, as if that had passed; the supervisor then retries them.
  await prisma.$executeRawUnsafe(`UPDATE pgboss.job SET started_on = started_on - expire_in WHERE state = 'active'`);
}

/** The suite's waitFor, looking often (a kill must land mid-batch) and showing the worker's output on failure. */
function waitUntil<T>(what: string, check: () => T | Promise<T>, timeoutMs: number): Promise<NonNullable<T>> {
  return waitFor(check, { timeout: timeoutMs, interval: 10, message: () => `${what}\n--- worker output ---\n${output}` });
}

let sequenceId: string;
let enrollmentIds: string[];
let stepIds: string[];

beforeAll(async () => {
  const { workspaceId } = await createWorkspaceWithKey(prisma, 'Crash');
  const actor = { workspaceId, runtime };
  sequenceId = await createSequence(actor, {
    name: 'Crash course',
    trigger: 'MANUAL',
    steps: Array.from({ length: STEPS }, (_, i) => ({
      subject: `Lesson ${i + 1}`,
      blocks: [{ type: 'text', text: `Lesson ${i + 1} for {{subscriber.firstName|you}}.` }],
    })),
  });
  await changeSequenceStatus(actor, encodeId('Sequence', sequenceId), 'enable');
  const steps = await prisma.step.findMany({ where: { sequenceId }, orderBy: { position: 'asc' } });
  stepIds = steps.map((s) => s.id);
  enrollmentIds = [];
  for (let i = 0; i < SUBSCRIBERS; i += 20) {
    const batch = Array.from({ length: Math.min(20, SUBSCRIBERS - i) }, (_, j) =>
      enrollSubscriber(actor, { sequenceId: encodeId('Sequence', sequenceId), subscriber: { email: `student${i + j}@example.com` } }),
    );
    enrollmentIds.push(...(await Promise.all(batch)));
  }
});

describe('killing the worker process in the middle of a run', () => {
  it('delivers every email exactly once after restarts', { timeout: 180_000 }, async () => {
    const kills: number[] = [];
    for (const killAt of [Math.round(TOTAL * 0.15), Math.round(TOTAL * 0.55)]) {
      worker = startWorker();
      await waitUntil(`${killAt} emails delivered`, () => smtp.messages.length >= killAt || worker!.exitCode !== null, 60_000);
      expect(worker.exitCode, output).toBeNull();
      await killWorker(worker);
      kills.push(smtp.messages.length);
    }
    // Killed mid-flight: some but not all emails had gone out, more the second time.
    expect(kills[0]).toBeGreaterThan(0);
    expect(kills[1]).toBeGreaterThan(kills[0]!);
    expect(kills[1]).toBeLessThan(TOTAL);

    worker = startWorker();
    await waitUntil(
      'every run completed',
      async () => (await prisma.enrollment.count({ where: { sequenceId, status: 'COMPLETED' } })) === SUBSCRIBERS,
      120_000,
    );
    // Nothing is left to do, and nothing failed for good.
    await waitUntil('the queue drained', async () => {
      const [{ open }] = await prisma.$queryRawUnsafe<[{ open: number }]>(
        `SELECT count(*)::int AS open FROM pgboss.job WHERE name = 'stepwise.step' AND state IN ('created', 'retry', 'active')`,
      );
      return open === 0;
    }, 30_000);
    const [{ failed }] = await prisma.$queryRawUnsafe<[{ failed: number }]>(
      `SELECT count(*)::int AS failed FROM pgboss.job WHERE name = 'stepwise.step' AND state = 'failed'`,
    );
    expect(failed).toBe(0);

    // The database: one SENT message and one SENT step per run and step.
    const messages = await prisma.message.findMany({ where: { enrollment: { sequenceId } } });
    expect(messages).toHaveLength(TOTAL);
    expect(messages.every((m) => m.status === 'SENT')).toBe(true);
    expect(new Set(messages.map((m) => `${m.enrollmentId}.${m.stepId}`)).size).toBe(TOTAL);
    const stepRuns = await prisma.stepRun.findMany({ where: { enrollment: { sequenceId } } });
    expect(stepRuns).toHaveLength(TOTAL);
    expect(stepRuns.every((s) => s.status === 'SENT')).toBe(true);

    // Over SMTP: each run's each step arrived, recognised by its Message-ID
    // <enrollmentId.stepId@domain>, and by recipient and subject.
    const expected = new Set(enrollmentIds.flatMap((e) => stepIds.map((s) => `<${e}.${s}@stepwise.test>`)));
    const delivered = smtp.messages.map((m) => `<${String(m.messageId).replace(/^<|>$/g, '')}>`);
    const distinct = new Set(delivered);
    expect(distinct).toEqual(expected);
    const byRecipientAndSubject = new Set(
      smtp.messages.map((m) => `${Array.isArray(m.to) ? m.to[0]!.text : m.to!.text} ${m.subject}`),
    );
    expect(byRecipientAndSubject.size).toBe(TOTAL);

    // A message the relay accepted in the instant before the killed worker's
    // commit is sent again by the retry, with the same Message-ID (by which a
    // receiving server can drop it). Counted and reported, never hidden:
    const duplicates = delivered.length - distinct.size;
    console.log(
      `crash test: killed after ${kills.join(' and ')} of ${TOTAL} emails; ` +
        `${delivered.length} SMTP deliveries, ${distinct.size} distinct Message-IDs, ${duplicates} duplicate(s)`,
    );
    expect(delivered.length).toBeGreaterThanOrEqual(TOTAL);
    expect(duplicates).toBeLessThanOrEqual(2 * 8); // at most one per step in flight at each kill
  });
});
