// A test key's operations run on its workspace's test clock: everything they
// write (subscribers, events, runs, messages, the change log) carries the test
// clock's time, read as the operation starts (an advance moves it between two).
// Live keys' operations are not touched and cost nothing more.
import type { Plugin } from 'graphql-yoga';
import type { Context } from '../graphql/context.js';
import { onWorkspaceClock } from '../services/test-mode.js';

export function useTestClock(): Plugin<Context> {
  return {
    onExecute({ args, executeFn, setExecuteFn }) {
      const ctx = args.contextValue as Context;
      if (ctx.liveWorkspaceId) setExecuteFn((execution) => onWorkspaceClock(ctx.workspaceId, () => executeFn(execution)));
    },
  };
}
