/** What every resolver knows about its caller: the API key's workspace. */
export interface Context {
  workspaceId: string;
  apiKeyId: string;
  requestId: string;
}
