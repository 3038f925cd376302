// Once per test run: a Postgres (DATABASE_URL, else an embedded one), and a
// template database with every migration applied. Each test file then clones
// the template (test/helpers/database.ts), so files run in parallel in isolation.
import { randomBytes } from 'node:crypto';
import type { TestProject } from 'vitest/node';
import { migrate } from '../../src/db/migrate.js';
import { adminUrlFor, dropDatabase, ensureDatabase, startEmbeddedPostgres } from '../../src/db/postgres.js';

declare module 'vitest' {
  export interface ProvidedContext {
    databaseUrl: string;
    templateDatabase: string;
  }
}

export function databaseUrlFor(url: string, name: string): string {
  const u = new URL(url);
  u.pathname = `/${name}`;
  return u.toString();
}

export default async function setup(project: TestProject) {
  const server = process.env.DATABASE_URL
    ? { url: process.env.DATABASE_URL, stop: async () => {} }
    : await startEmbeddedPostgres({ dataDir: '.data/test-postgres', port: 54330, database: 'postgres' });
  const admin = adminUrlFor(server.url);
  const template = `stepwise_template_${randomBytes(4).toString('hex')}`;
  await ensureDatabase(admin, template);
  await migrate(databaseUrlFor(server.url, template));
  project.provide('databaseUrl', server.url);
  project.provide('templateDatabase', template);
  return async () => {
    await dropDatabase(admin, template);
    await server.stop();
  };
}
