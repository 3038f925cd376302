import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';
import { hashApiKey } from '../../src/auth/api-keys.js';
import { useTestDatabase } from '../helpers/database.js';

const run = promisify(execFile);
const { prisma, url } = await useTestDatabase();

it('`npm run keys -- create <name>` prints a new key once and stores only its hash', async () => {
  const { stdout } = await run(process.execPath, ['--import', 'tsx', 'src/cli/keys.ts', 'create', 'Acme', 'Inc'], {
    env: { ...process.env, DATABASE_URL: url },
  });
  const key = /API key \(shown once\): (\S+)/.exec(stdout)?.[1];
  expect(key).toMatch(/^sk_live_/);
  expect(stdout).toMatch(/Workspace "Acme Inc" \(wsp_[0-9a-f]{32}\)/);
  const row = await prisma.apiKey.findUnique({ where: { hash: hashApiKey(key!) }, include: { workspace: true } });
  expect(row?.workspace.name).toBe('Acme Inc');
  expect(JSON.stringify(await prisma.apiKey.findMany())).not.toContain(key);
});

it('`--test` also creates the test twin and prints its sk_test_ key once, the twin pointing at the new live workspace', async () => {
  const { stdout } = await run(process.execPath, ['--import', 'tsx', 'src/cli/keys.ts', 'create', '--test', 'Beta'], {
    env: { ...process.env, DATABASE_URL: url },
  });
  const liveKey = /API key \(shown once\): (\S+)/.exec(stdout)?.[1];
  const testKey = /Test key \(shown once\): (\S+)/.exec(stdout)?.[1];
  expect(liveKey).toMatch(/^sk_live_/);
  expect(testKey).toMatch(/^sk_test_/);
  const frozen = /its clock frozen at (\S+)/.exec(stdout)?.[1];
  const live = await prisma.apiKey.findUniqueOrThrow({ where: { hash: hashApiKey(liveKey!) }, include: { workspace: true } });
  const test = await prisma.apiKey.findUniqueOrThrow({ where: { hash: hashApiKey(testKey!) }, include: { workspace: true } });
  expect(live.workspace).toMatchObject({ name: 'Beta', liveWorkspaceId: null });
  expect(test.workspace).toMatchObject({ name: 'Beta (test)', liveWorkspaceId: live.workspaceId, testClockStatus: 'READY', testClockTime: new Date(frozen!) });
  expect(stdout).toContain(`Test workspace (wsp_${test.workspaceId.replaceAll('-', '')})`);
  expect(JSON.stringify(await prisma.apiKey.findMany())).not.toContain(testKey);
});

it('refuses a call without a workspace name', async () => {
  await expect(run(process.execPath, ['--import', 'tsx', 'src/cli/keys.ts', 'create'], { env: { ...process.env, DATABASE_URL: url } })).rejects.toMatchObject({
    code: 2,
    stderr: expect.stringContaining('usage: npm run keys -- create <workspace name> [--test]'),
  });
});
