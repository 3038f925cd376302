import type { EngineContext } from '../engine/context.js';

/** Who a service call acts for: the workspace of the API key. */
export interface Actor {
  workspaceId: string;
}

/** An actor with the runtime it acts through, on its workspace's clock (the GraphQL context is one). */
export interface Caller extends Actor {
  runtime: EngineContext;
}
