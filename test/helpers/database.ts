import { randomBytes } from 'node:crypto';
import { afterAll, inject } from 'vitest';
import { connectDb, disconnectDb, type ClientOptions } from '../../src/db/client.js';
import { adminUrlFor, dropDatabase, ensureDatabase } from '../../src/db/postgres.js';
import { databaseUrlFor } from './global-setup.js';

/**
 * A fresh, migrated database for this test file (a copy of the template), made
 * the process's database; dropped after the file's tests.
 */
export async function useTestDatabase(options?: ClientOptions) {
  const serverUrl = inject('databaseUrl');
  const admin = adminUrlFor(serverUrl);
  const name = `stepwise_test_${randomBytes(6).toString('hex')}`;
  await ensureDatabase(admin, name, inject('templateDatabase'));
  const url = databaseUrlFor(serverUrl, name);
  const prisma = connectDb(url, options);
  afterAll(async () => {
    await disconnectDb();
    await dropDatabase(admin, name);
  });
  return { prisma, url, name };
}
