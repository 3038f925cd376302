// Once per test run: a Postgres (DATABASE_URL, else an embedded one), and a
// template database with every migration applied. Each test file then clones
// the template (test/helpers/database.ts), so files run in parallel in isolation.
import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import type { TestProject } from 'vitest/node';
import { migrate } from '../../src/db/migrate.js';
import { adminUrlFor, dropDatabase, ensureDatabase, freePort, startEmbeddedPostgres } from '../../src/db/postgres.js';

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
  // Each run gets its own embedded server (own data directory and port), so
  // several test runs on one machine never share or stop each other's database.
  const dataDir = `.data/test-postgres/${process.pid}`;
  const server = process.env.DATABASE_URL
    ? { url: process.env.DATABASE_URL, stop: async () => {} }
    : await startEmbeddedPostgres({ dataDir, port: await freePort(), database: 'postgres' });
  const admin = adminUrlFor(server.url);
  const template = `stepwise_template_${randomBytes(4).toString('hex')}`;
  await ensureDatabase(admin, template);
  await migrate(databaseUrlFor(server.url, template));
  project.provide('databaseUrl', server.url);
  project.provide('templateDatabase', template);
  return async () => {
    await dropDatabase(admin, template);
    await server.stop();
    if (!process.env.DATABASE_URL) await rm(dataDir, { recursive: true, force: true });
  };
}
