// The one way to open a transaction. Code inside it can register work to run as
// the transaction's last statements (just before COMMIT), e.g. numbering the
// change log under a lock that must be held as briefly as possible.
import type { PrismaClient } from '../generated/prisma/client.js';
import type { Tx } from './client.js';

type Hook = (tx: Tx) => Promise<void>;

const beforeCommit = new WeakMap<Tx, Hook[]>();

export interface TransactionOptions {
  /** Milliseconds the transaction may run (Prisma's default is 5 s). */
  timeout?: number;
  maxWait?: number;
}

/** Opens a transaction on `on.db` (a runtime, an engine context, or anything holding the client). */
export async function transaction<T>(on: { db: PrismaClient }, fn: (tx: Tx) => Promise<T>, options: TransactionOptions = {}): Promise<T> {
  return on.db.$transaction(
    async (tx) => {
      const hooks: Hook[] = [];
      beforeCommit.set(tx, hooks);
      const result = await fn(tx);
      for (const hook of hooks) await hook(tx);
      return result;
    },
    { timeout: options.timeout ?? 30_000, maxWait: options.maxWait ?? 10_000 },
  );
}

/** Registers `key`'s hook once per transaction; returns false when it already was. */
export function runBeforeCommit(tx: Tx, hook: Hook): boolean {
  const hooks = beforeCommit.get(tx);
  if (!hooks) throw new Error('not inside transaction(): open the transaction with src/db/transaction.ts');
  if (hooks.includes(hook)) return false;
  hooks.push(hook);
  return true;
}
