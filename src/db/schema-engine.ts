// Prisma's WebAssembly schema engine: migrations without the native binary that
// `prisma migrate` would download (these machines cannot reach it). It writes the
// same `_prisma_migrations` table, so `prisma migrate deploy` stays compatible.
import { readFile, readdir } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { PrismaPg } from '@prisma/adapter-pg';
import pg from 'pg';
import { bindMigrationAwareSqlAdapterFactory } from '@prisma/driver-adapter-utils';
import type { MigrationList, SchemaEngine } from '@prisma/schema-engine-wasm';

export const projectRoot = join(dirname(fileURLToPath(import.meta.url)), '../..');
export const schemaPath = join(projectRoot, 'prisma/schema.prisma');
export const migrationsDir = join(projectRoot, 'prisma/migrations');
export const noFilters = { externalTables: [], externalEnums: [] };

let wasmReady: Promise<typeof import('@prisma/schema-engine-wasm')> | undefined;

// The package imports its .wasm bundler-style, which Node rejects; instantiate by hand.
function loadWasm() {
  wasmReady ??= (async () => {
    const require = createRequire(import.meta.url);
    const pkgDir = dirname(require.resolve('@prisma/schema-engine-wasm'));
    const bg = await import(pathToFileURL(join(pkgDir, 'schema_engine_bg.js')).href);
    const bytes = await readFile(join(pkgDir, 'schema_engine_bg.wasm'));
    const { instance } = await WebAssembly.instantiate(bytes, { './schema_engine_bg.js': bg });
    bg.__wbg_set_wasm(instance.exports);
    (instance.exports as { __wbindgen_start: () => void }).__wbindgen_start();
    return bg as typeof import('@prisma/schema-engine-wasm');
  })();
  return wasmReady;
}

const PG_CHAR = 18;
const PG_TEXT = 25;
let adapterPatched = false;

type Queryable = {
  performIO: (this: unknown, ...args: unknown[]) => Promise<{ fields: { dataTypeID: number }[] }>;
};
type PgAdapter = { executeScript: (this: { client: pg.Pool }, script: string) => Promise<void> };

/**
 * Two gaps in @prisma/adapter-pg 7.10 when the schema engine runs on it, mended
 * once on the adapter's classes:
 * - describing a database returns Postgres's one-byte "char" columns, which the
 *   adapter rejects as unsupported (diffs from the migrations folder fail); pg
 *   already parses them as strings, so they are reported as text;
 * - executeScript splits migration scripts at every ";", which breaks
 *   dollar-quoted function bodies; Postgres's simple query protocol runs a
 *   multi-statement script as is, as `prisma migrate` does.
 */
async function patchAdapter(factory: PrismaPg) {
  if (adapterPatched) return;
  adapterPatched = true;
  const adapter = await factory.connect();
  const adapterClass = Object.getPrototypeOf(adapter) as PgAdapter;
  const queryable = Object.getPrototypeOf(adapterClass) as Queryable;
  const performIO = queryable.performIO;
  queryable.performIO = async function (this: unknown, ...args: unknown[]) {
    const result = await performIO.apply(this, args);
    for (const field of result.fields) if (field.dataTypeID === PG_CHAR) field.dataTypeID = PG_TEXT;
    return result;
  };
  adapterClass.executeScript = async function (script: string) {
    await this.client.query(script);
  };
  await adapter.dispose();
}

/**
 * Runs `fn` with an engine bound to one database (for diffs from migrations: an
 * empty shadow database), then frees it and closes its connections, so the
 * database can be dropped or used as a template right after.
 */
export async function withSchemaEngine<T>(connectionString: string, fn: (engine: SchemaEngine) => Promise<T>): Promise<T> {
  const { SchemaEngine } = await loadWasm();
  const datamodel = await readFile(schemaPath, 'utf8');
  const pool = new pg.Pool({ connectionString, max: 2 });
  const pgFactory = new PrismaPg(pool);
  await patchAdapter(pgFactory);
  const factory = bindMigrationAwareSqlAdapterFactory(pgFactory);
  const engine = await SchemaEngine.new({ datamodels: [['schema.prisma', datamodel]] }, () => {}, factory);
  try {
    return await fn(engine);
  } finally {
    engine.free();
    await pool.end();
  }
}

export async function readMigrations(): Promise<MigrationList> {
  const entries = await readdir(migrationsDir, { withFileTypes: true }).catch(() => []);
  const dirs = entries.filter((e) => e.isDirectory()).map((e) => e.name).sort();
  const lockContent = await readFile(join(migrationsDir, 'migration_lock.toml'), 'utf8').catch(
    () => 'provider = "postgresql"\n',
  );
  return {
    baseDir: migrationsDir,
    lockfile: { path: 'migration_lock.toml', content: lockContent },
    shadowDbInitScript: '',
    migrationDirectories: await Promise.all(
      dirs.map(async (path) => ({
        path,
        migrationFile: {
          path: 'migration.sql',
          content: { tag: 'ok' as const, value: await readFile(join(migrationsDir, path, 'migration.sql'), 'utf8') },
        },
      })),
    ),
  };
}

/** SQL that takes the migrations folder to what schema.prisma describes ('' when none). */
export async function pendingSchemaChange(shadowDatabaseUrl: string): Promise<string> {
  return withSchemaEngine(shadowDatabaseUrl, async (engine) => {
    const migrations = await readMigrations();
    const datamodel = await readFile(schemaPath, 'utf8');
    const result = await engine.diff({
      from: migrations.migrationDirectories.length ? { tag: 'migrations', ...migrations } : { tag: 'empty' },
      to: { tag: 'schemaDatamodel', files: [{ path: schemaPath, content: datamodel }] },
      script: true,
      exitCode: null,
      filters: noFilters,
    });
    const sql = result.stdout ?? '';
    return /^\s*(--.*\n?\s*)*$/.test(sql) || sql.includes('This is an empty migration') ? '' : sql;
  });
}
