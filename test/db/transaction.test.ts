// Statements sent around Prisma (txQuery/txExecute) must run inside the
// transaction Prisma opened, on its connection: same backend, same transaction
// id, rolled back with it, and refused once it ended.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Prisma, type PrismaClient } from '../../src/generated/prisma/client.js';
import { transaction, txExecute, txExecuteDeferred, txQuery, useGenericPlans } from '../../src/db/transaction.js';
import type { Tx } from '../../src/db/client.js';
import { useTestDatabase } from '../helpers/database.js';
import { waitFor } from '../helpers/wait-for.js';

let prisma: PrismaClient;
beforeAll(async () => {
  ({ prisma } = await useTestDatabase());
  await prisma.$executeRaw`CREATE TABLE probe (n int)`;
});
afterAll(() => prisma.$executeRaw`DROP TABLE IF EXISTS probe`);

const WHO = Prisma.sql`SELECT pg_backend_pid() AS pid, pg_current_xact_id()::text AS xid`;

describe.each([
  { lean: false, kind: 'Prisma’s interactive transaction' },
  { lean: true, kind: 'a lean transaction, Prisma joining it' },
])('txQuery and txExecute in $kind', ({ lean }) => {
  it('run on the transaction’s own connection, in its transaction, under concurrency', async () => {
    const seen = await Promise.all(
      Array.from({ length: 8 }, () =>
        transaction(
          { db: prisma },
          async (tx) => {
            const [viaPrisma] = await tx.$queryRaw<{ pid: number; xid: string }[]>(WHO);
            const [around] = await txQuery<{ pid: number; xid: string }>(tx, WHO, { prepared: true });
            return { viaPrisma, around };
          },
          { lean },
        ),
      ),
    );
    for (const { viaPrisma, around } of seen) expect(around).toEqual(viaPrisma);
    expect(new Set(seen.map((s) => s.around!.xid)).size).toBe(8);
  });

  it('keep to their own connection when openings overlap, stop, and start again', async () => {
    // What tells Prisma's opening its connection is switched off whenever no transaction
    // is opening (src/db/client.ts), and on again at the next: rounds of 1, 8 and 3 at once,
    // the last with a transaction that opens while the others are already running.
    const one = () =>
      transaction(
        { db: prisma },
        async (tx) => {
          const [viaPrisma] = await tx.$queryRaw<{ pid: number; xid: string }[]>(WHO);
          const [around] = await txQuery<{ pid: number; xid: string }>(tx, WHO);
          return { viaPrisma, around };
        },
        { lean },
      );
    for (const size of [1, 8, 3]) {
      const first = Array.from({ length: size }, one);
      const late = first[0]!.then(one);
      const seen = await Promise.all([...first, late]);
      for (const { viaPrisma, around } of seen) expect(around).toEqual(viaPrisma);
      expect(new Set(seen.map((s) => s.around!.xid)).size).toBe(size + 1);
    }
  });

  it('are rolled back with the transaction, and refused once it ended', async () => {
    let kept: Tx | undefined;
    await expect(
      transaction(
        { db: prisma },
        async (tx) => {
          kept = tx;
          expect(await txExecute(tx, Prisma.sql`INSERT INTO probe (n) VALUES (1), (2)`)).toBe(2);
          // A Prisma call sees the transaction's own writes.
          expect(await tx.$queryRaw<{ n: number }[]>`SELECT count(*)::int AS n FROM probe`).toEqual([{ n: 2 }]);
          throw new Error('undo');
        },
        { lean },
      ),
    ).rejects.toThrow('undo');
    expect(await prisma.$queryRaw<{ n: number }[]>`SELECT count(*)::int AS n FROM probe`).toEqual([{ n: 0 }]);
    await expect(txExecute(kept!, Prisma.sql`INSERT INTO probe (n) VALUES (3)`)).rejects.toThrow('Transaction already closed');
    expect(await prisma.$queryRaw<{ n: number }[]>`SELECT count(*)::int AS n FROM probe`).toEqual([{ n: 0 }]);
  });

  it('commit what both sent, and end at the timeout', async () => {
    await transaction(
      { db: prisma },
      async (tx) => {
        await txExecute(tx, Prisma.sql`INSERT INTO probe (n) VALUES (10)`);
        await tx.$executeRaw`INSERT INTO probe (n) VALUES (11)`;
      },
      { lean },
    );
    expect(await prisma.$queryRaw<{ n: number }[]>`SELECT n FROM probe WHERE n >= 10 ORDER BY n`).toEqual([{ n: 10 }, { n: 11 }]);
    await prisma.$executeRaw`DELETE FROM probe`;
    let timedOut!: () => void;
    const pastTimeout = new Promise<void>((resolve) => (timedOut = resolve));
    const slow = transaction(
      { db: prisma },
      async (tx) => {
        await txExecute(tx, Prisma.sql`INSERT INTO probe (n) VALUES (20)`);
        try {
          await txExecute(tx, Prisma.sql`SELECT pg_sleep(0.3)`);
        } finally {
          timedOut();
        }
        await txExecute(tx, Prisma.sql`INSERT INTO probe (n) VALUES (21)`);
      },
      { lean, timeout: 100 },
    );
    await expect(slow).rejects.toThrow();
    await pastTimeout;
    // Neither in the transaction nor after it: the statement after the timeout is refused.
    expect(await prisma.$queryRaw<{ n: number }[]>`SELECT count(*)::int AS n FROM probe`).toEqual([{ n: 0 }]);
  });

  it('send a deferred statement with the next one or the COMMIT, in order; one that fails undoes the transaction', async () => {
    const count = async (from: number) => (await prisma.$queryRaw<{ n: number }[]>`SELECT count(*)::int AS n FROM probe WHERE n >= ${from}`)[0]!.n;
    await prisma.$executeRaw`DELETE FROM probe`;
    // Several times over: a connection's first use of a named statement is sent apart, later ones in one round trip.
    for (let round = 0; round < 4; round++) {
      await transaction(
        { db: prisma },
        async (tx) => {
          await txExecuteDeferred(tx, Prisma.sql`INSERT INTO probe (n) VALUES (${30}::int)`, { prepared: true });
          // The next statement sees it: it went first.
          expect(await txQuery(tx, Prisma.sql`SELECT count(*)::int AS n FROM probe WHERE n >= ${30}::int`, { prepared: true })).toEqual([{ n: 3 * round + 1 }]);
          await txExecuteDeferred(tx, Prisma.sql`INSERT INTO probe (n) VALUES (31)`);
          // So does a Prisma call.
          expect(await tx.$queryRaw<{ n: number }[]>`SELECT count(*)::int AS n FROM probe WHERE n >= 30`).toEqual([{ n: 3 * round + 2 }]);
          // This one goes with the COMMIT.
          await txExecuteDeferred(tx, Prisma.sql`INSERT INTO probe (n) VALUES (${32}::int)`, { prepared: true });
        },
        { lean, genericPlans: lean },
      );
      expect(await count(30)).toBe(3 * round + 3);
    }
    for (let round = 0; round < 3; round++) {
      // Failing with the COMMIT, and with the next statement: nothing of the transaction is kept.
      await expect(
        transaction(
          { db: prisma },
          async (tx) => {
            await txExecute(tx, Prisma.sql`INSERT INTO probe (n) VALUES (40)`);
            await txExecuteDeferred(tx, Prisma.sql`INSERT INTO probe (n) VALUES (${1}::int / ${0}::int)`, { prepared: true });
          },
          { lean },
        ),
      ).rejects.toThrow(/division by zero/);
      await expect(
        transaction(
          { db: prisma },
          async (tx) => {
            await txExecuteDeferred(tx, Prisma.sql`INSERT INTO probe (n) VALUES (41)`);
            await txExecuteDeferred(tx, Prisma.sql`INSERT INTO probe (n) VALUES (1 / 0)`);
            await txQuery(tx, Prisma.sql`SELECT 1`);
          },
          { lean },
        ),
      ).rejects.toThrow(/division by zero/);
      expect(await count(40)).toBe(0);
    }
    // The connections went back to the pool clean: as many transactions as it holds commit side by side.
    await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        transaction({ db: prisma }, (tx) => txExecuteDeferred(tx, Prisma.sql`INSERT INTO probe (n) VALUES (${50 + i}::int)`, { prepared: true }), { lean }),
      ),
    );
    expect(await count(50)).toBe(12);
    await prisma.$executeRaw`DELETE FROM probe`;
  });

  it('plan generic from useGenericPlans on, in this transaction only (a lean one)', async () => {
    const mode = async (tx: Tx) => (await txQuery<{ mode: string }>(tx, Prisma.sql`SELECT current_setting('plan_cache_mode') AS mode`))[0]!.mode;
    const seen = await transaction(
      { db: prisma },
      async (tx) => {
        const before = await mode(tx);
        useGenericPlans(tx);
        return [before, await mode(tx)];
      },
      { lean },
    );
    expect(seen).toEqual(['auto', lean ? 'force_generic_plan' : 'auto']);
    // SET LOCAL: the connection goes back to the pool as it was.
    const after = await Promise.all(Array.from({ length: 12 }, () => transaction({ db: prisma }, mode, { lean })));
    expect(new Set(after)).toEqual(new Set(['auto']));
  });

  it('bind arrays as Prisma does: quotes, backslashes, braces, commas, NULLs, numbers, booleans, timestamps, int8', async () => {
    const text = ['plain', 'a "quoted" word', 'back\\slash \\"both"', '{braces}, commas', '', ' spaced ', 'NULL', null, '{"json": "x\\"y"}', 'ünï'];
    const numbers = [1, -2.5, null, 1e21, 0];
    const flags = [true, false, null];
    const times = [new Date('2026-01-02T03:04:05.678Z'), null];
    const big = [10n ** 18n, null, -1n];
    const query = Prisma.sql`SELECT ${text}::text[] AS text, ${numbers}::float8[] AS numbers, ${flags}::bool[] AS flags,
      ${times}::timestamp(3)[]::text[] AS times, ${big}::int8[]::text[] AS big, ${[]}::uuid[] AS none`;
    const viaPrisma = await prisma.$queryRaw<unknown[]>(query);
    const around = await transaction({ db: prisma }, (tx) => txQuery(tx, query), { lean });
    expect(around).toEqual(viaPrisma);
    expect((around[0] as { text: unknown[] }).text).toEqual(text);
  });

  it('fails, with no uncaught error, when Postgres ends its session between two statements', async () => {
    const ended = transaction(
      { db: prisma },
      async (tx) => {
        const [own] = await txQuery<{ pid: number }>(tx, Prisma.sql`SELECT pg_backend_pid() AS pid`);
        // Ended from another session (as a restart or a forced drop would) while this one waits:
        // gone from pg_stat_activity, its FATAL error has reached the connection.
        await prisma.$queryRaw`SELECT pg_terminate_backend(${own!.pid}::int)`;
        await waitFor(
          async () => (await prisma.$queryRaw<{ n: number }[]>`SELECT count(*)::int AS n FROM pg_stat_activity WHERE pid = ${own!.pid}::int`)[0]!.n === 0,
        );
        await txQuery(tx, Prisma.sql`SELECT 1`);
      },
      { lean },
    );
    await expect(ended).rejects.toThrow();
  });
});
