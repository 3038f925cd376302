// What systemd, a container runtime or a process manager does: start the service
// with `npm start` and send SIGTERM (or SIGINT) to the PID it got. The whole
// service must stop gracefully: exit code 0, its HTTP port and the embedded
// Postgres port free, and no process of the tree left behind (no orphaned
// server, no orphaned postgres).
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { freePort } from '../../src/db/postgres.js';

const dataDir = mkdtempSync(join(tmpdir(), 'stepwise-npm-start-'));
// As root, Postgres runs as a 'postgres' user that must be able to reach the data.
chmodSync(dataDir, 0o755);
const leftovers: number[] = [];
afterAll(() => {
  for (const pid of leftovers) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  rmSync(dataDir, { recursive: true, force: true });
});

/** Parent of every live process, from /proc (the field after the parenthesised name). */
function parents(): Map<number, number> {
  const map = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      map.set(Number(entry), ppid);
    } catch {
      // exited while we looked
    }
  }
  return map;
}

function descendants(root: number): number[] {
  const map = parents();
  const found: number[] = [];
  let frontier = [root];
  while (frontier.length) {
    const next: number[] = [];
    for (const [pid, ppid] of map) if (frontier.includes(ppid)) next.push(pid);
    found.push(...next);
    frontier = next;
  }
  return found;
}

/** A live process (a zombie, exited but not yet reaped, does not count). */
function alive(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
    if (state === 'Z' || state === 'X') return undefined;
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ').trim();
  } catch {
    return undefined;
  }
}

function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once('error', () => resolve(false));
    probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(true)));
  });
}

async function startAndStop(signal: 'SIGTERM' | 'SIGINT', { wholeGroup = false } = {}) {
  const pgPort = await freePort();
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PORT: '0',
    STEPWISE_DATA_DIR: dataDir,
    EMBEDDED_POSTGRES_PORT: String(pgPort),
    LOG_LEVEL: 'info',
  };
  delete env.DATABASE_URL;
  delete env.STEPWISE_API_KEY;
  delete env.HOST;
  // As an init system starts it (no shell); in its own process group when the test
  // plays a terminal's Ctrl-C, which signals every process of the group at once.
  const npm = spawn('npm', ['start'], { env, stdio: ['ignore', 'pipe', 'pipe'], detached: wholeGroup });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    npm.once('exit', (code, sig) => resolve({ code, signal: sig })),
  );
  let output = '';
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`npm start did not become ready:\n${output}`)), 90_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const found = /GraphiQL at http:\/\/localhost:(\d+)\/graphql/.exec(output)?.[1];
      if (found && /workers are running/.test(output)) {
        clearTimeout(timer);
        resolve(Number(found));
      }
    };
    npm.stdout!.on('data', onData);
    npm.stderr!.on('data', onData);
    void exited.then(({ code }) => reject(new Error(`npm start exited early (${code}):\n${output}`)));
  });
  const ready = await fetch(`http://127.0.0.1:${port}/readyz`);
  expect(ready.status).toBe(200);

  const tree = descendants(npm.pid!);
  leftovers.push(...tree);
  const commands = tree.map((pid) => alive(pid) ?? '');
  // The tree really holds the server and the embedded Postgres.
  expect(commands.some((c) => /src\/main\.ts/.test(c)), commands.join('\n')).toBe(true);
  expect(commands.some((c) => /postgres/.test(c)), commands.join('\n')).toBe(true);

  if (wholeGroup) process.kill(-npm.pid!, signal);
  else npm.kill(signal);
  const { code, signal: bySignal } = await exited;
  expect({ code, bySignal }, output).toEqual({ code: 0, bySignal: null });
  expect(output).toMatch(/"msg":"stopped"/);
  const left = tree.map((pid) => [pid, alive(pid)] as const).filter(([, cmd]) => cmd !== undefined);
  expect(left, 'processes left behind').toEqual([]);
  expect(await portIsFree(port)).toBe(true);
  expect(await portIsFree(pgPort)).toBe(true);
  // Postgres shut down cleanly (its pid file is removed at the end of a clean shutdown).
  expect(existsSync(join(dataDir, 'postmaster.pid'))).toBe(false);
}

it('SIGTERM to the PID of `npm start` stops the server and its embedded Postgres, exit 0, nothing left', { timeout: 180_000 }, async () => {
  await startAndStop('SIGTERM');
});

it('SIGINT to the PID of `npm start` does the same', { timeout: 180_000 }, async () => {
  await startAndStop('SIGINT');
});

it('Ctrl-C in a terminal (SIGINT to the whole process group, Postgres included) does the same', { timeout: 180_000 }, async () => {
  await startAndStop('SIGINT', { wholeGroup: true });
});
