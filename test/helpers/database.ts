import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, inject } from 'vitest';
import { createPrismaClient, poolOf, type ClientOptions } from '../../src/db/client.js';
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

export interface TestDatabaseOptions extends ClientOptions {
  /** Settings of the database (ALTER DATABASE … SET), in force on every connection the client opens. */
  settings?: Record<string, string>;
  /** Called with every notice a connection of the client receives. */
  onNotice?: (notice: { message?: string }) => void;
}

/** A fresh migrated database for this test file, with a client on it. */
export async function useTestDatabase(options: TestDatabaseOptions = {}) {
  const { settings, onNotice, ...clientOptions } = options;
  const { url, name } = await createTestDatabase();
  if (settings) {
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    try {
      for (const [key, value] of Object.entries(settings)) await admin.query(`ALTER DATABASE "${name}" SET ${key} = ${admin.escapeLiteral(value)}`);
    } finally {
      await admin.end();
    }
  }
  // Room for the workers' transactions and the test's own calls at once.
  const prisma = createPrismaClient(url, { max: 20, ...clientOptions });
  // Before any connection is opened (they open lazily), so none goes unheard.
  if (onNotice) poolOf(prisma)!.on('connect', (client) => client.on('notice', onNotice));
  // Registered after the drop, so it runs first (afterAll hooks run in reverse).
  afterAll(() => prisma.$disconnect());
  return { prisma, url, name };
}
