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
import type { GraphQLError, ValidationContext } from 'graphql';
import { createGraphQLError, type Plugin } from 'graphql-yoga';

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
  maxCost: 200_000,
  maxDirectives: 50,
  introspection: true,
};

/**
 * Limits report through the validation context instead of throwing, so a
 * document gets every limit it breaks as errors (over HTTP and WebSocket alike),
 * with a code and without graphql-armor's "Syntax Error:" prefix.
 */
const report = {
  propagateOnRejection: false,
  onReject: [
    (context: ValidationContext | null, error: GraphQLError) =>
      context?.reportError(
        createGraphQLError(error.message.replace(/^Syntax Error: /, ''), { extensions: { code: 'QUERY_LIMIT_EXCEEDED' } }),
      ),
  ],
};

export function graphqlLimitPlugins(limits: GraphqlLimits): Plugin[] {
  const plugins: Plugin[] = [
    // Browsers may send "simple" requests cross-site without a preflight; those
    // are refused unless they carry a header a form cannot set. JSON POSTs pass.
    useCSRFPrevention({ requestHeaders: ['x-graphql-yoga-csrf', 'apollo-require-preflight'] }),
    maxTokensPlugin({ n: limits.maxTokens }) as Plugin,
    maxDepthPlugin({ n: limits.maxDepth, flattenFragments: true, ...report }) as Plugin,
    maxAliasesPlugin({ n: limits.maxAliases, ...report }) as Plugin,
    maxDirectivesPlugin({ n: limits.maxDirectives, ...report }) as Plugin,
    costLimitPlugin({ maxCost: limits.maxCost, ...report }) as Plugin,
  ];
  if (!limits.introspection) plugins.push(useDisableIntrospection());
  return plugins;
}
