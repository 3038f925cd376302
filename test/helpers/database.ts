import { randomBytes } from 'node:crypto';
import { afterAll, inject } from 'vitest';
import { createPrismaClient, type ClientOptions } from '../../src/db/client.js';
import { adminUrlFor, dropDatabase, ensureDatabase } from '../../src/db/postgres.js';
import { databaseUrlFor } from './global-setup.js';

/** A fresh database on the test server: a copy of the migrated template, or empty. Dropped after the file. */
export async function createTestDatabase(options: { empty?: boolean } = {}) {
  const serverUrl = inject('databaseUrl');
  const admin = adminUrlFor(serverUrl);
  const name = `stepwise_test_${randomBytes(6).toString('hex')}`;
  await ensureDatabase(admin, name, options.empty ? undefined : inject('templateDatabase'));
  afterAll(() => dropDatabase(admin, name));
  return { url: databaseUrlFor(serverUrl, name), name };
}

/** A fresh migrated database for this test file, with a client on it. */
export async function useTestDatabase(options?: ClientOptions) {
  const { url, name } = await createTestDatabase();
  // Room for the workers' transactions and the test's own calls at once.
  const prisma = createPrismaClient(url, { max: 20, ...options });
  // Registered after the drop, so it runs first (afterAll hooks run in reverse).
  afterAll(() => prisma.$disconnect());
  return { prisma, url, name };
}
