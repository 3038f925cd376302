// The README's "Testing your sequences" example is run as written: the CI check
// in its js block, in a separate Node process, against a running server and a
// live key.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';
import { useTestApp } from './helpers/app.js';

const run = promisify(execFile);
const t = await useTestApp();

it("the README's CI example passes against a running server", async () => {
  const readme = readFileSync(join(import.meta.dirname, '../README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Testing your sequences'));
  const code = /```js\n([\s\S]*?)```/.exec(section)?.[1];
  expect(code).toContain('advanceTestClock(by: "P14D")');
  const port = await t.app.start(0);
  const live = await t.workspace('README example');
  const { stdout } = await run(process.execPath, ['--input-type=module', '-e', code!], {
    env: { ...process.env, STEPWISE_URL: `http://127.0.0.1:${port}`, STEPWISE_API_KEY: live.key },
    timeout: 60_000,
  });
  expect(stdout.trim()).toBe('onboarding sequence: ok');
  // It worked in the live workspace's test twin, not in the live workspace.
  expect(await t.prisma.message.count({ where: { workspaceId: live.workspaceId } })).toBe(0);
  const twin = await t.prisma.workspace.findUniqueOrThrow({ where: { liveWorkspaceId: live.workspaceId } });
  expect(await t.prisma.message.count({ where: { workspaceId: twin.id, status: 'SENT' } })).toBe(3);
});
