// Statements sent around Prisma (txQuery/txExecute) must run inside the
// transaction Prisma opened, on its connection: same backend, same transaction
// id, rolled back with it, and refused once it ended.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Prisma, type PrismaClient } from '../../src/generated/prisma/client.js';
import { transaction, txExecute, txQuery } from '../../src/db/transaction.js';
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
