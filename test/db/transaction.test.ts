// Statements sent around Prisma (txQuery/txExecute) must run inside the
// transaction Prisma opened, on its connection: same backend, same transaction
// id, rolled back with it, and refused once it ended.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Prisma, type PrismaClient } from '../../src/generated/prisma/client.js';
import { transaction, txExecute, txQuery } from '../../src/db/transaction.js';
import type { Tx } from '../../src/db/client.js';
import { useTestDatabase } from '../helpers/database.js';

let prisma: PrismaClient;
beforeAll(async () => {
  ({ prisma } = await useTestDatabase());
  await prisma.$executeRaw`CREATE TABLE probe (n int)`;
});
afterAll(() => prisma.$executeRaw`DROP TABLE IF EXISTS probe`);

const WHO = Prisma.sql`SELECT pg_backend_pid() AS pid, pg_current_xact_id()::text AS xid`;

describe('txQuery and txExecute', () => {
  it('run on the transaction’s own connection, in its transaction, under concurrency', async () => {
    const seen = await Promise.all(
      Array.from({ length: 8 }, () =>
        transaction({ db: prisma }, async (tx) => {
          const [viaPrisma] = await tx.$queryRaw<{ pid: number; xid: string }[]>(WHO);
          const [around] = await txQuery<{ pid: number; xid: string }>(tx, WHO, { prepared: true });
          return { viaPrisma, around };
        }),
      ),
    );
    for (const { viaPrisma, around } of seen) expect(around).toEqual(viaPrisma);
    expect(new Set(seen.map((s) => s.around!.xid)).size).toBe(8);
  });

  it('are rolled back with the transaction, and refused once it ended', async () => {
    let kept: Tx | undefined;
    await expect(
      transaction({ db: prisma }, async (tx) => {
        kept = tx;
        expect(await txExecute(tx, Prisma.sql`INSERT INTO probe (n) VALUES (1), (2)`)).toBe(2);
        throw new Error('undo');
      }),
    ).rejects.toThrow('undo');
    expect(await prisma.$queryRaw<{ n: number }[]>`SELECT count(*)::int AS n FROM probe`).toEqual([{ n: 0 }]);
    await expect(txExecute(kept!, Prisma.sql`INSERT INTO probe (n) VALUES (3)`)).rejects.toThrow('Transaction already closed');
    expect(await prisma.$queryRaw<{ n: number }[]>`SELECT count(*)::int AS n FROM probe`).toEqual([{ n: 0 }]);
  });
});
