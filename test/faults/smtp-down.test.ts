// The SMTP relay is down (connections refused): the step is retried by pg-boss
// with backoff, the run is not lost, and once the relay is back the email goes
// out once and the run goes on. (test/engine/relay-refusal.test.ts covers the
// last attempt failing the run, visibly in its history.)
import { afterAll, expect, it } from 'vitest';
import { smtpTransport } from '../../src/mail/transport.js';
import { freePort } from '../../src/db/postgres.js';
import { useTestEngine } from '../helpers/engine.js';
import { drained } from '../helpers/jobs.js';
import { startSmtpSink } from '../helpers/smtp-sink.js';

const t = await useTestEngine();

it('retries while the relay is unreachable, then delivers once and completes the run', { timeout: 90_000 }, async () => {
  const port = await freePort();
  // The runtime's relay moves to an address nobody listens on.
  t.runtime.mail.transport.close();
  t.runtime.mail.transport = smtpTransport(`smtp://127.0.0.1:${port}`);
  const ws = await t.workspace();
  const created = await ws.gql(`mutation { createSequence(input: { name: "Relay down", trigger: MANUAL, steps: [
    { subject: "Through at last", blocks: [{ type: "text", text: "Hello" }] } ] }) { sequence { id } } }`);
  const sequenceId = created.data.createSequence.sequence.id;
  await ws.gql(`mutation($id: ID!) { enableSequence(id: $id) { errors { message } } }`, { id: sequenceId });
  const enrolled = await ws.gql(`mutation($input: EnrollSubscriberInput!) { enrollSubscriber(input: $input) { enrollment { id } } }`, {
    input: { sequenceId, subscriber: { email: 'patient@example.com' } },
  });
  const runId = enrolled.data.enrollSubscriber.enrollment.id;

  // The first attempts fail with connection refused; pg-boss schedules retries with backoff.
  const retried = await t.until(async () => {
    const [job] = await t.prisma.$queryRaw<{ retry_count: number; state: string; start_after: Date }[]>`
      SELECT retry_count, state::text, start_after FROM pgboss.job WHERE name = 'stepwise.step' AND data->>'stepId' IS NOT NULL
      ORDER BY created_on DESC LIMIT 1`;
    return job && job.retry_count >= 1 && job.state === 'retry' ? job : null;
  });
  expect(retried.start_after.getTime()).toBeGreaterThan(Date.now()); // backoff: the retry waits
  const waiting = (await ws.gql(`query($id: ID!) { enrollment(id: $id) { status currentStepPosition history { status } } }`, { id: runId })).data.enrollment;
  expect(waiting).toEqual({ status: 'ACTIVE', currentStepPosition: 1, history: [] });

  // The relay comes back on the same address; the retry (brought forward) delivers.
  const relay = await startSmtpSink(port);
  afterAll(() => relay.close());
  // Engine time moves past the backoff, as if the retry's wait had passed.
  await t.advance(retried.start_after.getTime() - Date.now() + 1_000);
  const [mail] = await relay.waitFor(1, 30_000);
  expect(mail!.subject).toBe('Through at last');
  const done = await t.until(async () => {
    const run = (await ws.gql(`query($id: ID!) { enrollment(id: $id) { status history { status message { status } } } }`, { id: runId })).data.enrollment;
    return run.status === 'COMPLETED' ? run : null;
  });
  expect(done.history).toEqual([{ status: 'SENT', message: { status: 'SENT' } }]);
  // No retry of this step is left due or running: a second delivery would have happened by now.
  await drained(t.prisma);
  expect(relay.messages).toHaveLength(1);
});
