import { defineConfig } from 'prisma/config';

// Only `prisma generate` reads this; the server and tests migrate through
// src/db/migrate.ts with the connection from src/config.ts.
export default defineConfig({
  schema: 'prisma/schema.prisma',
  migrations: { path: 'prisma/migrations' },
});
