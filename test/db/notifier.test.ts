// A transaction's NOTIFY is sent by the client's notifier once the transaction has
// committed (src/db/notifier.ts): never before, never for one rolled back, and in
// the order the notifier sent them, so a later marker's arrival shows that an
// earlier notification was not sent.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PrismaClient } from '../../src/generated/prisma/client.js';
import { listen, type Listener } from '../../src/db/listener.js';
import { notifyNow, notifyOnCommit, transaction } from '../../src/db/transaction.js';
import { useTestDatabase } from '../helpers/database.js';
import { waitFor } from '../helpers/wait-for.js';

const CHANNEL = 'stepwise_notifier_probe';
let prisma: PrismaClient;
let listener: Listener;
const received: string[] = [];
beforeAll(async () => {
  let url: string;
  ({ prisma, url } = await useTestDatabase());
  let connected = false;
  listener = listen(url, CHANNEL, { notified: (payload) => received.push(payload), connected: () => (connected = true) });
  await waitFor(() => connected, { message: 'the LISTEN connection' });
});
afterAll(() => listener.stop());

const arrived = (payload: string) => waitFor(() => received.includes(payload), { message: `NOTIFY ${payload}` });

describe.each([
  { lean: false, kind: 'Prisma’s interactive transaction' },
  { lean: true, kind: 'a lean transaction' },
])('notifyOnCommit in $kind', ({ lean }) => {
  it('sends after the commit, not before, and nothing for a transaction rolled back', async () => {
    received.length = 0;
    await expect(
      transaction(
        { db: prisma },
        async (tx) => {
          notifyOnCommit(tx, CHANNEL, 'rolled back');
          await tx.$executeRaw`SELECT 1`;
          throw new Error('roll back');
        },
        { lean },
      ),
    ).rejects.toThrow('roll back');
    await transaction(
      { db: prisma },
      async (tx) => {
        notifyOnCommit(tx, CHANNEL, 'committed');
        notifyOnCommit(tx, CHANNEL, 'committed'); // one NOTIFY for the same payload
        await tx.$executeRaw`SELECT 1`;
        // Sent by the same notifier after everything before it: its arrival shows nothing of this transaction went ahead of it.
        notifyNow(prisma, CHANNEL, 'marker');
        await arrived('marker');
        expect(received).toEqual(['marker']);
      },
      { lean },
    );
    await arrived('committed');
    expect(received).toEqual(['marker', 'committed']);
  });
});

it('sends every notification of many transactions committing at once', async () => {
  received.length = 0;
  const payloads = Array.from({ length: 50 }, (_, i) => `t${i}`);
  await Promise.all(
    payloads.map((payload, i) =>
      transaction({ db: prisma }, async (tx) => {
        await tx.$executeRaw`SELECT 1`;
        notifyOnCommit(tx, CHANNEL, payload);
      }, { lean: i % 2 === 0 }),
    ),
  );
  await waitFor(() => received.length >= payloads.length, { message: 'all 50 notifications' });
  expect([...received].sort()).toEqual([...payloads].sort());
});

it('refuses a NOTIFY on commit outside transaction()', async () => {
  await prisma.$transaction(async (tx) => {
    expect(() => notifyOnCommit(tx, CHANNEL, 'x')).toThrow('not inside transaction()');
  });
});
