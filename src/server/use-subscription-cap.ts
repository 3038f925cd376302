// An envelop plugin capping the subscriptions one API key holds open in this
// process, over WebSocket and SSE alike (both run through yoga's envelop). Each
// open subscription holds a feed reader and memory; without a cap one key could
// exhaust them. The subscription over the cap gets an error; the others go on.
import { createGraphQLError, type Plugin } from 'graphql-yoga';
import type { Context } from '../graphql/context.js';

const isAsyncIterable = (value: unknown): value is AsyncIterable<unknown> =>
  typeof value === 'object' && value !== null && Symbol.asyncIterator in value;

export function useSubscriptionCap(maxPerKey: number): Plugin<Context> {
  const open = new Map<string, number>();
  const release = (key: string) => {
    const left = (open.get(key) ?? 1) - 1;
    if (left > 0) open.set(key, left);
    else open.delete(key);
  };

  return {
    onSubscribe({ args, subscribeFn, setSubscribeFn, setResultAndStopExecution }) {
      const key = (args.contextValue as Partial<Context>).apiKeyId;
      if (!key) return undefined;
      const held = open.get(key) ?? 0;
      if (held >= maxPerKey) {
        setResultAndStopExecution({
          errors: [
            createGraphQLError(
              `Too many open subscriptions for this API key (the limit is ${maxPerKey}): close one before opening another`,
              { extensions: { code: 'SUBSCRIPTION_LIMIT', limit: maxPerKey } },
            ),
          ],
        });
        return undefined;
      }
      open.set(key, held + 1);
      let released = false;
      const releaseOnce = () => {
        if (released) return;
        released = true;
        release(key);
      };
      // A subscribe that throws never reaches onSubscribeResult: give the slot back there too.
      setSubscribeFn(async (subscribeArgs) => {
        try {
          return await subscribeFn(subscribeArgs);
        } catch (error) {
          releaseOnce();
          throw error;
        }
      });
      return {
        onSubscribeResult({ result }) {
          if (!isAsyncIterable(result)) {
            releaseOnce();
            return undefined;
          }
          return { onEnd: releaseOnce };
        },
      };
    },
  };
}
