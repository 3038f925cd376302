import pg from 'pg';
import { expect, it } from 'vitest';
import { migrate } from '../../src/db/migrate.js';
import { pendingSchemaChange } from '../../src/db/schema-engine.js';
import { createTestDatabase } from '../helpers/database.js';

it('the checked-in migrations produce exactly what schema.prisma describes (no drift)', async () => {
  // Diffing replays the migrations on an empty (shadow) database, then compares with schema.prisma.
  const shadow = await createTestDatabase({ empty: true });
  expect(await pendingSchemaChange(shadow.url)).toBe('');
});

it('applies every migration once on an empty database, and nothing the second time', async () => {
  const { url } = await createTestDatabase({ empty: true });
  const first = await migrate(url);
  expect(first.length).toBeGreaterThan(0);
  expect(await migrate(url)).toEqual([]);
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  const { rows } = await client.query('SELECT migration_name FROM _prisma_migrations WHERE finished_at IS NOT NULL ORDER BY 1');
  await client.end();
  expect(rows.map((r) => r.migration_name)).toEqual(first);
});
