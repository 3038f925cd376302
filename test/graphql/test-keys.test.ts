// Test keys: a live key gets its workspace's test twin's keys through
// createTestKey (the twin is made on first use, its clock frozen then); a test key
// is refused; the key's workspace, not its prefix, decides what it sees.
import { describe, expect, it } from 'vitest';
import { hashApiKey } from '../../src/auth/api-keys.js';
import { useTestApp } from '../helpers/app.js';

const t = await useTestApp();

const CREATE = 'mutation { createTestKey { key errors { field message code } } }';
const CLOCK = '{ testClock { frozenTime status } }';

describe('createTestKey', () => {
  it('with a live key: a sk_test_ key of the test twin, whose clock is frozen at its creation; live keys have no test clock', async () => {
    const live = await t.workspace('Acme');
    expect(live.key).toMatch(/^sk_live_/);
    const before = Date.now();
    const res = await live.gql(CREATE);
    const after = Date.now();
    expect(res.errors).toBeUndefined();
    expect(res.data.createTestKey.errors).toEqual([]);
    const key: string = res.data.createTestKey.key;
    expect(key).toMatch(/^sk_test_[A-Za-z0-9_-]{32}$/);

    const row = await t.prisma.apiKey.findUniqueOrThrow({ where: { hash: hashApiKey(key) }, include: { workspace: true } });
    expect(row.workspace).toMatchObject({ liveWorkspaceId: live.workspaceId, name: 'Acme (test)', testClockStatus: 'READY' });
    expect(row.prefix).toBe(key.slice(0, 12));
    // Only the hash is kept.
    expect(JSON.stringify(await t.prisma.apiKey.findMany())).not.toContain(key);

    const test = t.keyed(key, row.workspaceId);
    const clock = await test.gql(CLOCK);
    expect(clock.errors).toBeUndefined();
    expect(clock.data.testClock.status).toBe('READY');
    const frozen = new Date(clock.data.testClock.frozenTime).getTime();
    expect(frozen).toBe(row.workspace.testClockTime!.getTime());
    expect(frozen).toBeGreaterThanOrEqual(before);
    expect(frozen).toBeLessThanOrEqual(after);

    expect(await live.gql(CLOCK)).toEqual({ data: { testClock: null } });
  });

  it('a second call adds a key to the same twin, its clock untouched', async () => {
    const live = await t.workspace('Twice');
    const first = await t.testWorkspace(live);
    const clockBefore = (await first.gql(CLOCK)).data.testClock;
    const second = await t.testWorkspace(live);
    expect(second.key).not.toBe(first.key);
    expect(second.workspaceId).toBe(first.workspaceId);
    expect((await second.gql(CLOCK)).data.testClock).toEqual(clockBefore);
    expect(await t.prisma.workspace.count({ where: { liveWorkspaceId: live.workspaceId } })).toBe(1);
    expect(await t.prisma.apiKey.count({ where: { workspaceId: first.workspaceId } })).toBe(2);
  });

  it('concurrent first calls make one twin, each key valid', async () => {
    const live = await t.workspace('Race');
    const results = await Promise.all(Array.from({ length: 8 }, () => live.gql(CREATE)));
    const keys = results.map((r) => r.data.createTestKey.key as string);
    expect(new Set(keys).size).toBe(8);
    const twins = await t.prisma.workspace.findMany({ where: { liveWorkspaceId: live.workspaceId } });
    expect(twins).toHaveLength(1);
    const owners = await t.prisma.apiKey.findMany({ where: { hash: { in: keys.map(hashApiKey) } } });
    expect(owners.map((o) => o.workspaceId)).toEqual(keys.map(() => twins[0]!.id));
    for (const key of keys) expect((await t.keyed(key, twins[0]!.id).gql(CLOCK)).data.testClock.status).toBe('READY');
  });

  it('with a test key: refused with LIVE_KEY_REQUIRED, nothing created', async () => {
    const live = await t.workspace('Refused');
    const test = await t.testWorkspace(live);
    const [workspaces, keys] = [await t.prisma.workspace.count(), await t.prisma.apiKey.count()];
    const res = await test.gql(CREATE);
    expect(res.errors).toBeUndefined();
    expect(res.data.createTestKey).toEqual({ key: null, errors: [{ field: null, code: 'LIVE_KEY_REQUIRED', message: expect.stringMatching(/live key/) }] });
    expect([await t.prisma.workspace.count(), await t.prisma.apiKey.count()]).toEqual([workspaces, keys]);
  });

  it('an older sk_ live key still works and gets a test key', async () => {
    const { createWorkspaceWithKey } = await import('../../src/auth/api-keys.js');
    const old = await createWorkspaceWithKey(t.prisma, 'Old', 'sk_0123456789abcdefghijklmnopqrstuv');
    const live = t.keyed(old.key, old.workspaceId);
    expect(await live.gql(CLOCK)).toEqual({ data: { testClock: null } });
    const test = await t.testWorkspace(live);
    expect(test.key).toMatch(/^sk_test_/);
    expect((await test.gql(CLOCK)).data.testClock.status).toBe('READY');
  });
});
