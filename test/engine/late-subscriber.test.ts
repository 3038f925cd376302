// An event for an email that another transaction is inserting: the statement that
// creates new emails' subscribers waits on that row, cannot see it once it is
// committed (its snapshot is older), and reads it again to write the event.
import { expect, it } from 'vitest';
import pg from 'pg';
import { useTestEngine } from '../helpers/engine.js';
import { waitFor } from '../helpers/wait-for.js';
import { email, engineApi } from './support.js';

const t = await useTestEngine();

const TRACK_MANY = `mutation($input: TrackEventsInput!) { trackEvents(input: $input) {
  results { event { id subscriber { email } } enrollments { id } errors { field message code } } errors { field message code } } }`;

it('an event for an email another transaction is creating waits for it, then lands on that subscriber', { timeout: 120_000 }, async () => {
  const api = engineApi(t, await t.workspace());
  const trackMany = async (events: Record<string, unknown>[]) => {
    const res = await api.ws.gql(TRACK_MANY, { input: { events } });
    expect(res.errors).toBeUndefined();
    return res.data.trackEvents;
  };
  const seq = await api.sequence({ name: 'Late email', trigger: 'EVENT_RECEIVED', eventName: 'late.email', steps: [email('Late', { days: 1 })] });
  const other = new pg.Client({ connectionString: t.url });
  await other.connect();
  try {
    await other.query('BEGIN');
    const { rows } = await other.query<{ id: string }>(
      `INSERT INTO "Subscriber" (id, "workspaceId", email, "createdAt", "updatedAt") VALUES (gen_random_uuid(), $1, 'late@ingest.test', now(), now()) RETURNING id`,
      [api.ws.workspaceId],
    );
    const pending = trackMany([{ email: 'late@ingest.test', event: 'late.email', properties: { n: 1 } }, { email: 'late2@ingest.test', event: 'late.email' }]);
    // The call's insert of that email waits on this transaction's row.
    await waitFor(
      async () =>
        // Read on another connection: a transaction keeps its first view of pg_stat_activity.
        (await t.prisma.$queryRaw<unknown[]>`SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%INSERT INTO "Subscriber"%'`).length,
      { timeout: 60_000, message: 'the call waiting on the uncommitted subscriber' },
    );
    await other.query('COMMIT');
    const answer = await pending;
    expect(answer.errors).toEqual([]);
    expect(answer.results.map((r: { event: { subscriber: { email: string } } }) => r.event.subscriber.email)).toEqual(['late@ingest.test', 'late2@ingest.test']);
    const late = await t.prisma.subscriber.findFirstOrThrow({ where: { email: 'late@ingest.test' } });
    expect(late.id).toBe(rows[0]!.id);
    expect(late.lastEventAt).not.toBeNull();
    expect(await t.prisma.event.count({ where: { subscriberId: late.id, name: 'late.email' } })).toBe(1);
    expect((await t.prisma.subscriber.findFirstOrThrow({ where: { email: 'late2@ingest.test' } })).lastEventAt).not.toBeNull();
    expect((await api.runs(seq)).map((r) => r.subscriber.email).sort()).toEqual(['late2@ingest.test', 'late@ingest.test']);
  } finally {
    await other.end();
  }
});
