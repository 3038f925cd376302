// `npm start` on a fresh data directory: embedded Postgres, migrations, a printed
// development key, GraphiQL; a second start keeps the data and the key.
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { freePort } from '../../src/db/postgres.js';

const dataDir = mkdtempSync(join(tmpdir(), 'stepwise-start-'));
// As root, Postgres runs as a 'postgres' user that must be able to reach the data.
chmodSync(dataDir, 0o755);
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

async function start(): Promise<{ child: ChildProcess; port: number; key: string }> {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PORT: '0',
    STEPWISE_DATA_DIR: dataDir,
    // A port free now: a random one could be another test's listener (the CI run that saw it: Postgres exited).
    EMBEDDED_POSTGRES_PORT: String(await freePort()),
    LOG_LEVEL: 'info',
  };
  delete env.DATABASE_URL;
  delete env.STEPWISE_API_KEY;
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start:\n${output}`)), 60_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const key = /Development API key: (\S+)/.exec(output)?.[1];
      const port = /GraphiQL at http:\/\/localhost:(\d+)\/graphql/.exec(output)?.[1];
      if (key && port) {
        clearTimeout(timer);
        resolve({ child, port: Number(port), key });
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.on('exit', (code) => reject(new Error(`server exited with ${code}:\n${output}`)));
  });
}

async function stop(child: ChildProcess) {
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  child.kill('SIGTERM');
  return exited;
}

const gql = (port: number, key: string, query: string) =>
  fetch(`http://127.0.0.1:${port}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
    body: JSON.stringify({ query }),
  }).then((r) => r.json() as Promise<any>);

it('serves GraphiQL on embedded Postgres and keeps data across restarts', { timeout: 120_000 }, async () => {
  const first = await start();
  const page = await fetch(`http://127.0.0.1:${first.port}/graphql`, { headers: { accept: 'text/html' } });
  expect(page.status).toBe(200);
  const html = await page.text();
  expect(html).toContain('GraphiQL');
  expect(html).toContain(first.key); // the local key is prefilled in GraphiQL's headers
  const created = await gql(first.port, first.key, 'mutation { createList(name: "Kept") { id } }');
  expect(created.data.createList.id).toMatch(/^lst_/);
  expect(await stop(first.child)).toBe(0);

  const second = await start();
  expect(second.key).toBe(first.key);
  const lists = await gql(second.port, second.key, '{ lists { name } }');
  expect(lists.data.lists).toEqual([{ name: 'Kept' }]);
  expect(await stop(second.child)).toBe(0);
});
