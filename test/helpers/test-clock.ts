// A test workspace (a test twin of a live one) with its key, its clock set to a
// chosen time (each of its requests runs on that clock: the runtime's clockFor).
import type { PrismaClient } from '../../src/generated/prisma/client.js';
import type { GqlResult } from './app.js';

type Client = { key: string; workspaceId: string; gql<T = any>(query: string, variables?: Record<string, unknown>): Promise<GqlResult<T>> };
type App = {
  prisma: PrismaClient;
  workspace(name?: string): Promise<Client>;
  testWorkspace(live: Client): Promise<Client>;
};

export const CLOCK_FIELDS = 'frozenTime status advancingTo';
export const ADVANCE = `mutation($to: DateTime, $by: String) { advanceTestClock(to: $to, by: $by) {
  testClock { ${CLOCK_FIELDS} } errors { field message code } } }`;

/** The test twin of a new live workspace (through createTestKey), its clock set to `frozenTime`. */
export async function testWorkspace(t: App, frozenTime: Date, name = 'Test twin') {
  const live = await t.workspace(name);
  const twin = await t.testWorkspace(live);
  await t.prisma.workspace.update({ where: { id: twin.workspaceId }, data: { testClockTime: frozenTime } });
  async function frozen(): Promise<Date> {
    const row = await t.prisma.workspace.findUniqueOrThrow({ where: { id: twin.workspaceId } });
    return row.testClockTime!;
  }
  return {
    ...twin,
    live,
    frozen,
    /** advanceTestClock's payload (errors included). */
    async advance(args: { to?: string; by?: string }) {
      const res = await this.gql(ADVANCE, args);
      if (res.errors) throw new Error(JSON.stringify(res.errors));
      return res.data.advanceTestClock as { testClock: { frozenTime: string; status: string; advancingTo: string | null } | null; errors: { field: string[] | null; message: string; code: string }[] };
    },
  };
}
