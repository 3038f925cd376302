import { afterAll } from 'vitest';
import { createWorkspaceWithKey, hashApiKey } from '../../src/auth/api-keys.js';
import { createLogger } from '../../src/logger.js';
import { buildApp } from '../../src/server/app.js';
import { useTestRuntime, type TestRuntimeOptions } from './runtime.js';

export interface GqlResult<T = any> {
  data?: T;
  errors?: { message: string; path?: string[]; extensions?: Record<string, unknown> }[];
}

/** A test database plus a runtime and the app on it; `workspace()` makes a tenant with its own key. */
export async function useTestApp(options: TestRuntimeOptions = {}) {
  // Writes schedule jobs in their transactions, so the API needs pg-boss (not its workers).
  const { prisma, url, runtime } = await useTestRuntime(options);
  // Tests drive one key hard; the per-key rate limit has its own test (test/server/hardening.test.ts).
  const app = buildApp({ runtime, logger: createLogger('silent'), settings: { RATE_LIMIT_PER_MINUTE: 0 } });
  afterAll(async () => {
    await app.stop();
  });

  async function request(body: unknown, headers: Record<string, string> = {}) {
    return app.yoga.fetch('http://stepwise.test/graphql', {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
  }

  /** A client calling the API with `key` (of workspace `workspaceId`). */
  function keyed(key: string, workspaceId: string) {
    const auth = { authorization: `Bearer ${key}` };
    return {
      key,
      workspaceId,
      async gql<T = any>(query: string, variables?: Record<string, unknown>): Promise<GqlResult<T>> {
        const response = await request({ query, variables }, auth);
        return (await response.json()) as GqlResult<T>;
      },
    };
  }

  async function workspace(name = 'Test workspace') {
    const { key, workspaceId } = await createWorkspaceWithKey(prisma, name);
    return keyed(key, workspaceId);
  }

  /** The test twin of `live` (created on first use through createTestKey), with a new test key. */
  async function testWorkspace(live: { gql: (query: string) => Promise<GqlResult> }) {
    const res = await live.gql('mutation { createTestKey { key errors { code message } } }');
    const key = res.data?.createTestKey?.key;
    if (!key) throw new Error(`createTestKey failed: ${JSON.stringify(res)}`);
    const row = await prisma.apiKey.findUniqueOrThrow({ where: { hash: hashApiKey(key) } });
    return keyed(key, row.workspaceId);
  }

  return { app, prisma, url, request, workspace, testWorkspace, keyed, runtime, jobs: runtime.boss };
}
