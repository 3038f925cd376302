// A read registered for a channel (readAfterCommit) goes after a lean
// transaction's COMMIT on its connection, in the same round trip: it runs outside
// the transaction and sees what it committed, is answered before the transaction
// resolves, and its failure fails only the read, never the committed transaction.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Prisma, type PrismaClient } from '../../src/generated/prisma/client.js';
import { notifierOf } from '../../src/db/client.js';
import { notifyOnCommit, readAfterCommit, transaction, txExecute, txQuery, type CommitRead } from '../../src/db/transaction.js';
import { useTestDatabase } from '../helpers/database.js';

const CHANNEL = 'stepwise_commit_read_test';
let prisma: PrismaClient;
/** What each read's `done` got, and the notifications delivered to this process's listener. */
const answers: { payload: string; rows?: unknown[]; error?: unknown }[] = [];
const local: string[] = [];
/** The read each payload asks for (by its first word), and whether its `done` says it delivered the notification. */
const reads: Record<string, { text: string; values: (payload: string) => unknown[]; delivered: boolean; begin?: boolean }> = {
  count: {
    text: 'SELECT pg_backend_pid() AS pid, pg_current_xact_id_if_assigned()::text AS xid, (SELECT count(*)::int FROM commit_probe WHERE n = $1) AS seen',
    values: (payload) => [Number(payload.split(' ')[1])],
    delivered: true,
  },
  undelivered: { text: 'SELECT 1 AS one', values: () => [], delivered: false },
  fail: { text: 'SELECT 1 / $1::int AS never', values: () => [0], delivered: true },
  // Fails inside a transaction of its own, left open (aborted) on the connection.
  'fail-open': { text: 'SELECT 1 / $1::int AS never', values: () => [0], delivered: true, begin: true },
};

beforeAll(async () => {
  ({ prisma } = await useTestDatabase());
  await prisma.$executeRaw`CREATE TABLE commit_probe (n int UNIQUE DEFERRABLE INITIALLY DEFERRED)`;
  for (const prepared of [false, true]) {
    notifierOf(prisma)!.deliverLocally(prepared ? `${CHANNEL}_prepared` : CHANNEL, (payload) => local.push(payload));
    // Two channels: the reads as named (prepared) statements, sent one at a time on a connection that has not prepared them yet, and as unnamed ones, always in one round trip.
    readAfterCommit(prisma, prepared ? `${CHANNEL}_prepared` : CHANNEL, (payload): CommitRead | undefined => {
      const read = reads[payload.split(' ')[0]!];
      if (!read) return undefined;
      return {
        statements: [...(read.begin ? [{ text: 'BEGIN', values: [] }] : []), { text: read.text, values: read.values(payload), prepared }],
        done: (rows, error) => {
          answers.push({ payload, rows, error });
          return rows !== undefined && read.delivered;
        },
      };
    });
  }
});
afterAll(() => prisma.$executeRaw`DROP TABLE IF EXISTS commit_probe`);

const WHO = Prisma.sql`SELECT pg_backend_pid() AS pid, pg_current_xact_id()::text AS xid`;

/** A lean transaction inserting `n` and notifying `payload` on the channel. */
function insert(n: number, channel: string, payload: string) {
  return transaction(
    { db: prisma },
    async (tx) => {
      await txExecute(tx, Prisma.sql`INSERT INTO commit_probe VALUES (${n})`);
      notifyOnCommit(tx, channel, payload);
      const [who] = await txQuery<{ pid: number; xid: string }>(tx, WHO);
      return who!;
    },
    { lean: true },
  );
}

it.each([CHANNEL, `${CHANNEL}_prepared`])('runs after the COMMIT on its connection, outside the transaction, and sees what it committed (%s)', async (channel) => {
  // Three rounds: a named statement goes one at a time on a connection that has not prepared it, then in one round trip.
  for (const n of [1, 2, 3].map((k) => k + (channel === CHANNEL ? 0 : 10))) {
    answers.length = 0;
    local.length = 0;
    const who = await insert(n, channel, `count ${n}`);
    // Answered before the transaction resolved, and not delivered to the local listener again.
    expect(answers).toEqual([{ payload: `count ${n}`, rows: [{ pid: who.pid, xid: null, seen: 1 }], error: undefined }]);
    expect(local).toEqual([]);
  }
});

it('a notification its read did not deliver goes to the local listener as before', async () => {
  local.length = 0;
  await insert(21, CHANNEL, 'undelivered 21');
  expect(local).toEqual(['undelivered 21']);
});

it.each([CHANNEL, `${CHANNEL}_prepared`])('a read that fails after the COMMIT fails alone: the transaction has committed and resolves (%s)', async (channel) => {
  for (const n of [31, 32].map((k) => k + (channel === CHANNEL ? 0 : 10))) {
    answers.length = 0;
    local.length = 0;
    await insert(n, channel, `fail ${n}`);
    expect(answers).toHaveLength(1);
    expect(answers[0]!.rows).toBeUndefined();
    expect(answers[0]!.error).toMatchObject({ code: '22012' }); // division_by_zero
    // Not delivered by the read: the local listener has it.
    expect(local).toEqual([`fail ${n}`]);
    expect(await prisma.$queryRaw`SELECT count(*)::int AS c FROM commit_probe WHERE n = ${n}`).toEqual([{ c: 1 }]);
  }
  // The connections serve the next transactions.
  await expect(insert(channel === CHANNEL ? 35 : 45, channel, 'count 0')).resolves.toBeDefined();
});

it('a read that fails inside a transaction of its own does not leave that transaction open on a pooled connection', async () => {
  for (const n of [61, 62, 63]) {
    answers.length = 0;
    await insert(n, CHANNEL, `fail-open ${n}`);
    expect(answers[0]!.error).toMatchObject({ code: '22012' });
  }
  // Every connection of the pool serves a transaction (one left in the aborted transaction would refuse it).
  const counts = await Promise.all(Array.from({ length: 20 }, (_, k) => insert(70 + k, CHANNEL, `count ${70 + k}`).then(() => answers.at(-1))));
  expect(counts.every((a) => a?.error === undefined)).toBe(true);
});

it('a COMMIT that fails fails the transaction, and its reads are neither answered nor delivered', async () => {
  await insert(50, CHANNEL, 'count 50');
  answers.length = 0;
  local.length = 0;
  // The unique check is deferred to the COMMIT.
  await expect(insert(50, CHANNEL, 'count 50')).rejects.toMatchObject({ code: '23505' });
  expect(answers).toEqual([]);
  expect(local).toEqual([]);
  expect(await prisma.$queryRaw`SELECT count(*)::int AS c FROM commit_probe WHERE n = 50`).toEqual([{ c: 1 }]);
});
