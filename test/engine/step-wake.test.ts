// A step due now is fetched when its job is inserted, not at the loops' next poll:
// the job insert's NOTIFY, sent once its transaction committed, wakes the idle step
// loops. Here they would otherwise poll once an hour, so the email arriving at all
// shows the wake-up; jobs due later are still found by polling (not exercised here).
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createWorkspaceWithKey } from '../../src/auth/api-keys.js';
import type { Caller } from '../../src/auth/actor.js';
import { encodeId } from '../../src/domain/public-id.js';
import { enrollSubscriber } from '../../src/services/runs.js';
import { changeSequenceStatus, createSequence } from '../../src/services/sequences.js';
import { drained } from '../helpers/jobs.js';
import { useTestRuntime } from '../helpers/runtime.js';
import { startSmtpSink } from '../helpers/smtp-sink.js';

const smtp = await startSmtpSink();
afterAll(() => smtp.close());
// Every statement sent on the runtime's pool: none NOTIFYs (src/db/notifier.ts sends them, after the commit).
const statements: string[] = [];
const { prisma, runtime } = await useTestRuntime({
  onQuery: (sql) => statements.push(sql),
  config: { SMTP_URL: smtp.url, MAIL_FROM: 'Stepwise Test <test@stepwise.test>' },
  runtime: { workers: { stepPollMs: 3_600_000 } },
});

let actor: Caller;
let sequence: string;
beforeAll(async () => {
  actor = { ...(await createWorkspaceWithKey(prisma, 'Wake')), runtime };
  const id = await createSequence(actor, { name: 'Now', trigger: 'MANUAL', steps: [{ subject: 'Hello', blocks: [{ type: 'text', text: 'Now.' }] }] });
  sequence = encodeId('Sequence', id);
  await changeSequenceStatus(actor, sequence, 'enable');
});

it('wakes idle step loops when a due step job is inserted', async () => {
  // Two rounds: the loops went idle after the first, and are woken again.
  for (const email of ['first@wake.test', 'second@wake.test']) {
    const runId = await enrollSubscriber(actor, { sequenceId: sequence, subscriber: { email } });
    await smtp.waitFor(smtp.messages.length + 1);
    await drained(prisma);
    const run = await prisma.enrollment.findUniqueOrThrow({ where: { id: runId } });
    expect(run.status).toBe('COMPLETED');
  }
  expect(smtp.messages.map((m) => (Array.isArray(m.to) ? m.to[0]?.text : m.to?.text)).sort()).toEqual(['first@wake.test', 'second@wake.test']);
  expect(statements.some((sql) => /INSERT INTO pgboss\.job/.test(sql))).toBe(true);
  expect(statements.filter((sql) => /pg_notify/i.test(sql))).toEqual([]);
  // Nor does a trigger of an earlier version on the job table (dropped at start).
  expect(await prisma.$queryRaw`SELECT tgname FROM pg_trigger WHERE tgrelid = 'pgboss.job'::regclass AND tgname = 'stepwise_step_jobs_inserted'`).toEqual([]);
});
