// Every reader of a sequence's open runs is planned on the partial index kept
// over them (Enrollment_sequenceId_status_idx). The planner uses a partial index
// only when the query's status filter proves its predicate: literal statuses do;
// a status bound as text and cast (Prisma's enum binding, `$1::text::"EnrollmentStatus"`)
// does not, and the query then reads every run of the sequence (or, here, of
// its one subscriber) with no error to show for it. Postgres' auto_explain reports
// the plan each statement the real code sent ran with, parameters and all, as a
// notice to the connection that sent it.
import { beforeAll, describe, expect, it } from 'vitest';
import type { Caller } from '../../src/auth/actor.js';
import { encodeId } from '../../src/domain/public-id.js';
import { releaseQueued } from '../../src/engine/release-queued.js';
import { cancelEnrollments } from '../../src/services/cancel.js';
import { trackEvent } from '../../src/services/runs.js';
import { changeSequenceStatus, createSequence } from '../../src/services/sequences.js';
import { simulateSequence } from '../../src/services/simulate.js';
import { editSequenceDraft, publishSequence } from '../../src/services/versions.js';
import { useTestApp } from '../helpers/app.js';
import { explainedStatements } from '../helpers/explained.js';

const INDEX = 'Enrollment_sequenceId_status_idx';
const ENDED = 20_000;

const explained = explainedStatements();
const t = await useTestApp(explained.options);
let actor: Caller;
let sequenceId: string;
let publicId: string;
let subscriberId: string;

beforeAll(async () => {
  const { workspaceId } = await t.workspace();
  actor = { workspaceId, runtime: t.runtime };
  sequenceId = await createSequence(actor, {
    name: 'Many runs',
    trigger: 'EVENT_RECEIVED',
    eventName: 'signed_up',
    throttleMaxAddsPerDay: 1_000,
    steps: [{ subject: 'Welcome', blocks: [{ type: 'text', text: 'Hello' }] }],
  });
  publicId = encodeId('Sequence', sequenceId);
  await changeSequenceStatus(actor, publicId, 'enable');
  const [runId] = (await trackEvent(actor, { email: 'ada@example.com', event: 'signed_up' })).enrollmentIds;
  const run = await t.prisma.enrollment.findUniqueOrThrow({ where: { id: runId } });
  subscriberId = encodeId('Subscriber', run.subscriberId);
  // The sequence's history: many ended runs, a few open ones of each status.
  await t.prisma.$executeRaw`
    INSERT INTO "Enrollment" (id, "workspaceId", "sequenceId", "subscriberId", status, version, "updatedAt")
    SELECT gen_random_uuid(), "workspaceId", "sequenceId", "subscriberId",
           (CASE WHEN n <= ${ENDED} THEN (CASE n % 2 WHEN 0 THEN 'COMPLETED' ELSE 'CANCELLED' END)
                 ELSE (ARRAY['QUEUED', 'ACTIVE', 'PAUSED'])[n % 3 + 1] END)::"EnrollmentStatus",
           version, now()
    FROM "Enrollment", generate_series(1, ${ENDED + 30}) AS n WHERE id = ${runId}::uuid`;
  await t.prisma.$executeRaw`ANALYZE "Enrollment"`;
});

describe('readers of open runs use the partial (sequenceId, status) index', () => {
  it.each([
    ['releasing queued runs (and so re-enabling a sequence)', 'ORDER BY "startedAt"', () => releaseQueued(t.runtime, sequenceId)],
    ['simulating (the queued runs ahead)', 'count(*)::int AS n FROM "Enrollment"', () => simulateSequence(actor, { sequenceId: publicId })],
    [
      "publishing (the sequence's open runs)",
      'SELECT id::text FROM "Enrollment"',
      async () => {
        await editSequenceDraft(actor, publicId, { steps: [{ subject: 'Welcome, again', blocks: [{ type: 'text', text: 'Hello' }] }] });
        await publishSequence(actor, publicId, { dryRun: true });
      },
    ],
    ["cancelling a subscriber's runs, dry run", 'count(*)::int AS count FROM "Enrollment" e', () => cancelEnrollments(actor, { sequenceId: publicId, subscriberId, dryRun: true })],
    ['ending runs', 'WITH old AS', () => cancelEnrollments(actor, { sequenceId: publicId, subscriberId, dryRun: false })],
  ])('%s', async (_, fragment, read) => {
    const found = await explained.of(fragment, read);
    expect(found.length).toBeGreaterThan(0);
    for (const plan of found) expect(plan).toContain(`"Index Name": "${INDEX}"`);
  });
});
