// Where a test workspace's jobs wait. enqueue() (boss.ts) sends every job here
// first: the jobs of test twins go to the TestClockJob table, due on the
// workspace's test clock (virtual time), where live workers never look;
// advanceTestClock (test-clock.ts) works them. Live jobs pass through untouched,
// at the cost of a cached lookup (test-workspaces.ts).
import { uuidv7 } from '../domain/tracking-links.js';
import type { Tx } from '../db/client.js';
import { QUEUES } from './queues.js';
import { testWorkspaces } from './test-workspaces.js';

/** The queues whose jobs belong to one workspace's timeline (the others run on wall time for everyone). */
const CLOCKED: ReadonlySet<string> = new Set([QUEUES.step, QUEUES.pauseTimeout, QUEUES.releaseQueued]);

export interface RoutableJob {
  name: string;
  data: object;
  startAfter?: Date;
  /** The workspace the job belongs to; looked up from the run or sequence in `data` when left out. */
  workspaceId?: string;
}

/** The workspace of each job that did not say (one query for all of them). */
async function workspacesOf(tx: Tx, jobs: RoutableJob[]): Promise<(string | undefined)[]> {
  const refs = jobs.map((j) => {
    const data = j.data as { enrollmentId?: unknown; sequenceId?: unknown };
    if (j.workspaceId || !CLOCKED.has(j.name)) return { run: null, sequence: null };
    return {
      run: typeof data.enrollmentId === 'string' ? data.enrollmentId : null,
      sequence: typeof data.sequenceId === 'string' ? data.sequenceId : null,
    };
  });
  const missing = refs.some((r) => r.run || r.sequence);
  if (!missing) return jobs.map((j) => j.workspaceId);
  const rows = await tx.$queryRaw<{ n: number; workspace: string | null }[]>`
    SELECT r.n::int AS n, COALESCE(e."workspaceId", s."workspaceId")::text AS workspace
    FROM unnest(${refs.map((r) => r.run)}::uuid[], ${refs.map((r) => r.sequence)}::uuid[]) WITH ORDINALITY AS r(run, sequence, n)
    LEFT JOIN "Enrollment" e ON e.id = r.run
    LEFT JOIN "Sequence" s ON s.id = r.sequence`;
  const found = new Map(rows.map((r) => [r.n - 1, r.workspace ?? undefined]));
  return jobs.map((j, i) => j.workspaceId ?? found.get(i));
}

/**
 * Inserts the jobs of test workspaces into TestClockJob, due at their
 * `startAfter` (engine time: inside an advance or a test-mode request, the test
 * clock's) or `at`. Returns the jobs left for pg-boss.
 */
export async function holdTestJobs<J extends RoutableJob>(tx: Tx, jobs: J[], at: Date): Promise<J[]> {
  const clocked = jobs.filter((j) => CLOCKED.has(j.name));
  if (!clocked.length) return jobs;
  const workspaces = await workspacesOf(tx, clocked);
  const twins = await testWorkspaces(tx, workspaces.filter((w): w is string => Boolean(w)));
  if (!twins.size) return jobs;
  const held = new Set<J>();
  const rows: { workspaceId: string; name: string; data: string; dueAt: Date }[] = [];
  clocked.forEach((job, i) => {
    const workspaceId = workspaces[i];
    if (!workspaceId || !twins.has(workspaceId)) return;
    held.add(job);
    rows.push({ workspaceId, name: job.name, data: JSON.stringify(job.data), dueAt: job.startAfter ?? at });
  });
  // Ids in insertion order: jobs due at the same instant are worked in the order they were made.
  const ids = rows.map(() => uuidv7(Date.now())).sort();
  await tx.$executeRaw`
    INSERT INTO "TestClockJob" (id, "workspaceId", name, data, "dueAt", "createdAt")
    SELECT r.id, r.workspace, r.name, r.data, r.due, ${at}
    FROM unnest(${ids}::uuid[], ${rows.map((r) => r.workspaceId)}::uuid[], ${rows.map((r) => r.name)}::text[],
      ${rows.map((r) => r.data)}::jsonb[], ${rows.map((r) => r.dueAt)}::timestamp(3)[]) AS r(id, workspace, name, data, due)`;
  return jobs.filter((j) => !held.has(j));
}

