/** What every resolver knows about its caller: the API key's workspace. */
export interface Context {
  workspaceId: string;
  apiKeyId: string;
  /** Set for a test key: the live workspace whose test twin `workspaceId` is. */
  liveWorkspaceId: string | null;
  requestId: string;
}
