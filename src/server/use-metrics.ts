// An envelop plugin counting and timing GraphQL operations, refused documents,
// and open subscriptions. Applies to HTTP, SSE and WebSocket alike (the
// WebSocket server runs operations through yoga.getEnveloped).
import { getOperationAST, type DocumentNode } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import type { Metrics } from './metrics.js';

function describe(document: DocumentNode, operationName?: string | null) {
  const operation = getOperationAST(document, operationName ?? undefined);
  const first = operation?.selectionSet.selections.find((s) => s.kind === 'Field');
  // Root field names are bounded by the schema (documents are validated before
  // execution); client-chosen operation names are not, so they are no label.
  return { type: operation?.operation ?? 'unknown', field: first?.kind === 'Field' ? first.name.value : 'unknown' };
}

const isAsyncIterable = (value: unknown): value is AsyncIterable<unknown> =>
  typeof value === 'object' && value !== null && Symbol.asyncIterator in value;

export function useMetrics(metrics: Metrics): Plugin {
  return {
    onParse() {
      return ({ result }) => {
        if (result instanceof Error) metrics.graphqlRefused.inc({ stage: 'parse' });
      };
    },
    onValidate() {
      return ({ valid }) => {
        if (!valid) metrics.graphqlRefused.inc({ stage: 'validate' });
      };
    },
    onExecute({ args }) {
      const labels = describe(args.document, args.operationName);
      const stop = metrics.graphqlDuration.startTimer(labels);
      return {
        onExecuteDone({ result }) {
          stop();
          const failed = !isAsyncIterable(result) && (result.errors?.length ?? 0) > 0;
          metrics.graphqlOperations.inc({ ...labels, outcome: failed ? 'error' : 'ok' });
        },
      };
    },
    onSubscribe({ args }) {
      const labels = describe(args.document, args.operationName);
      return {
        onSubscribeResult({ result }) {
          if (!isAsyncIterable(result)) {
            metrics.graphqlOperations.inc({ ...labels, outcome: 'error' });
            return undefined;
          }
          metrics.graphqlOperations.inc({ ...labels, outcome: 'ok' });
          metrics.activeSubscriptions.inc();
          let open = true;
          return {
            onEnd() {
              if (!open) return;
              open = false;
              metrics.activeSubscriptions.dec();
            },
          };
        },
      };
    },
  };
}
