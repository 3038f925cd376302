// Events read a workspace's sequences, first steps and segments from a per-process
// cache keyed by Workspace.definitionsVersion. The changes here are made by raw
// SQL on another connection, as another process would (no in-process
// invalidation can see them): the very next event must see each one.
import { expect, it } from 'vitest';
import pg from 'pg';
import { tryDecodeId } from '../../src/domain/public-id.js';
import { useTestEngine } from '../helpers/engine.js';
import { email, engineApi } from './support.js';

const t = await useTestEngine();

const TRACK = `mutation($input: TrackEventInput!) { trackEvent(input: $input) {
  enrollments { id status sequence { id } nextTriggerAt } errors { message } } }`;

it('the next event after another process edits a sequence, a step or a segment sees the edit', async () => {
  const ws = await t.workspace();
  const api = engineApi(t, ws);
  const other = new pg.Client({ connectionString: t.url });
  await other.connect();
  try {
    const track = async (address: string, event: string) => {
      const res = await ws.gql(TRACK, { input: { email: address, event } });
      expect(res.errors).toBeUndefined();
      return res.data.trackEvent.enrollments as { id: string; status: string; sequence: { id: string }; nextTriggerAt: string }[];
    };
    const seq = await api.sequence({ name: 'Cached', trigger: 'EVENT_RECEIVED', eventName: 'cache.ev', steps: [email('One', { days: 1 })] });
    const dbId = tryDecodeId('Sequence', seq)!;
    expect(await track('a@cache.test', 'cache.ev')).toHaveLength(1); // cached now

    // Disabled elsewhere: starts nothing.
    await other.query(`UPDATE "Sequence" SET status = 'PAUSED' WHERE id = $1`, [dbId]);
    expect(await track('b@cache.test', 'cache.ev')).toEqual([]);

    // Enabled again, with another trigger event.
    await other.query(`UPDATE "Sequence" SET status = 'ACTIVE', "triggerEventName" = 'cache.other' WHERE id = $1`, [dbId]);
    expect(await track('c@cache.test', 'cache.ev')).toEqual([]);
    expect(await track('d@cache.test', 'cache.other')).toHaveLength(1);

    // The first step's delay changed: the next run is due at the new delay.
    await other.query(`UPDATE "Step" SET "delayDays" = 3 WHERE "sequenceId" = $1`, [dbId]);
    const before3 = t.clock.now().getTime();
    const [run] = await track('e@cache.test', 'cache.other');
    const due = new Date(run!.nextTriggerAt).getTime();
    expect(due).toBeGreaterThanOrEqual(before3 + 3 * 86_400_000 - 1_000);
    expect(due).toBeLessThanOrEqual(t.clock.now().getTime() + 3 * 86_400_000);

    // A segment created elsewhere, and a sequence it triggers: an event that brings a subscriber into it starts a run.
    const { rows } = await other.query<{ id: string }>(
      `INSERT INTO "Segment" (id, "workspaceId", name, definition) VALUES (gen_random_uuid(), $1, 'Buyers', $2) RETURNING id`,
      [ws.workspaceId, JSON.stringify({ match: 'all', conditions: [{ event: 'cache.bought', op: 'count_gte', value: 1 }] })],
    );
    await other.query(`UPDATE "Sequence" SET "triggerType" = 'SEGMENT_ENTERED', "triggerSegmentId" = $2, "triggerEventName" = NULL WHERE id = $1`, [dbId, rows[0]!.id]);
    expect(await track('f@cache.test', 'cache.bought')).toHaveLength(1);

    // Stamping lastUsedAt (every run start does, once a minute) is not an edit: the version stays.
    const version = async () => (await other.query<{ v: string }>(`SELECT "definitionsVersion"::text AS v FROM "Workspace" WHERE id = $1`, [ws.workspaceId])).rows[0]!.v;
    const before = await version();
    await other.query(`UPDATE "Sequence" SET "lastUsedAt" = now(), "updatedAt" = now() WHERE id = $1`, [dbId]);
    expect(await version()).toBe(before);
    // A rolled-back edit changes nothing either.
    await other.query('BEGIN');
    await other.query(`UPDATE "Sequence" SET status = 'PAUSED' WHERE id = $1`, [dbId]);
    await other.query('ROLLBACK');
    expect(await version()).toBe(before);
    expect(await track('g@cache.test', 'cache.bought')).toHaveLength(1);
  } finally {
    await other.end();
  }
});
