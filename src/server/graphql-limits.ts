// Limits on what one GraphQL document may ask for (graphql-armor): depth,
// aliases, tokens, directives and an estimated cost. They run at parse and
// validation, before anything executes, over HTTP and WebSocket alike. CSRF
// prevention refuses browser "simple" requests, and introspection can be off.
import { costLimitPlugin } from '@escape.tech/graphql-armor-cost-limit';
import { maxAliasesPlugin } from '@escape.tech/graphql-armor-max-aliases';
import { maxDepthPlugin } from '@escape.tech/graphql-armor-max-depth';
import { maxDirectivesPlugin } from '@escape.tech/graphql-armor-max-directives';
import { maxTokensPlugin } from '@escape.tech/graphql-armor-max-tokens';
import { useCSRFPrevention } from '@graphql-yoga/plugin-csrf-prevention';
import { useDisableIntrospection } from '@graphql-yoga/plugin-disable-introspection';
import type { Plugin } from 'graphql-yoga';

export interface GraphqlLimits {
  maxDepth: number;
  maxAliases: number;
  maxTokens: number;
  maxCost: number;
  maxDirectives: number;
  introspection: boolean;
}

export const DEFAULT_LIMITS: GraphqlLimits = {
  maxDepth: 12,
  maxAliases: 15,
  maxTokens: 10_000,
  maxCost: 20_000,
  maxDirectives: 50,
  introspection: true,
};

export function graphqlLimitPlugins(limits: GraphqlLimits): Plugin[] {
  const plugins: Plugin[] = [
    // Browsers may send "simple" requests cross-site without a preflight; those
    // are refused unless they carry a header a form cannot set. JSON POSTs pass.
    useCSRFPrevention({ requestHeaders: ['x-graphql-yoga-csrf', 'apollo-require-preflight'] }),
    maxTokensPlugin({ n: limits.maxTokens }) as Plugin,
    maxDepthPlugin({ n: limits.maxDepth, flattenFragments: true }) as Plugin,
    maxAliasesPlugin({ n: limits.maxAliases }) as Plugin,
    maxDirectivesPlugin({ n: limits.maxDirectives }) as Plugin,
    costLimitPlugin({ maxCost: limits.maxCost }) as Plugin,
  ];
  if (!limits.introspection) plugins.push(useDisableIntrospection());
  return plugins;
}
