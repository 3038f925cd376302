import type { Runtime } from '../runtime.js';

/** What every resolver knows about its caller: the API key's workspace, and the runtime on that workspace's clock. */
export interface Context {
  workspaceId: string;
  apiKeyId: string;
  /** Set for a test key: the live workspace whose test twin `workspaceId` is. */
  liveWorkspaceId: string | null;
  requestId: string;
  runtime: Runtime;
}
