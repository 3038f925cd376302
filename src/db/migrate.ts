import { withSchemaEngine, readMigrations, noFilters } from './schema-engine.js';

/**
 * Applies pending migrations from prisma/migrations, recording them in
 * `_prisma_migrations`. The engine takes Postgres's advisory lock, so several
 * processes starting together apply each migration once.
 */
export async function migrate(databaseUrl: string): Promise<string[]> {
  const migrationsList = await readMigrations();
  return withSchemaEngine(databaseUrl, async (engine) => {
    const { appliedMigrationNames } = await engine.applyMigrations({ migrationsList, filters: noFilters });
    return appliedMigrationNames;
  });
}
