/** Who a service call acts for: the workspace of the API key. */
export interface Actor {
  workspaceId: string;
}
