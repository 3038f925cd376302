// Runs `prisma generate` offline. The Prisma CLI looks for a schema-engine
// binary before generating (and would try to download one); generation never
// uses it, so any existing file satisfies the check. Migrations do not need the
// binary either: src/db/migrate.ts uses Prisma's WebAssembly schema engine.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

const env = { ...process.env, PRISMA_HIDE_UPDATE_MESSAGE: '1', CHECKPOINT_DISABLE: '1' };
if (!env.PRISMA_SCHEMA_ENGINE_BINARY || !existsSync(env.PRISMA_SCHEMA_ENGINE_BINARY)) {
  env.PRISMA_SCHEMA_ENGINE_BINARY = process.execPath;
}
const result = spawnSync('npx', ['prisma', 'generate'], { stdio: 'inherit', env });
process.exit(result.status ?? 1);
