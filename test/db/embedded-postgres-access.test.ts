// As root, embedded Postgres runs as an unprivileged user: a data directory it
// cannot reach must fail with a message that says what to do, not a bare EACCES.
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { startEmbeddedPostgres } from '../../src/db/postgres.js';

const root = process.getuid?.() === 0;

describe.skipIf(!root)('embedded Postgres started by root (skipped: this test needs to run as root)', () => {
  it('names the directory the postgres user cannot enter', async () => {
    const closed = await mkdtemp(join(tmpdir(), 'stepwise-closed-'));
    await chmod(closed, 0o700);
    try {
      await expect(startEmbeddedPostgres({ dataDir: join(closed, 'data', 'pg'), port: 1 })).rejects.toThrow(
        `which cannot enter ${closed} `,
      );
    } finally {
      await rm(closed, { recursive: true, force: true });
    }
  });
});
