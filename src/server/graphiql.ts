// GraphiQL on GET /graphql, self-contained: @graphql-yoga/render-graphiql inlines
// GraphiQL's script, styles, editor workers and icon into the page, so it works
// with no internet (yoga's built-in page loads them from a public CDN). The
// development key is prefilled only for a client on this machine.
import type { IncomingMessage } from 'node:http';
import { renderGraphiQL } from '@graphql-yoga/render-graphiql';
import type { GraphiQLOptions } from 'graphql-yoga';
import { isLoopbackRequest } from './loopback.js';

export const KEY_PLACEHOLDER = '<your API key>';

/** Per-request GraphiQL options: the development key only for a loopback client. */
export function graphiqlFor(developmentKey: string | undefined) {
  return (_request: Request, context?: { req?: IncomingMessage }): GraphiQLOptions => {
    const key = developmentKey && isLoopbackRequest(context?.req) ? developmentKey : KEY_PLACEHOLDER;
    return {
      title: 'Stepwise',
      subscriptionsProtocol: 'WS',
      headers: JSON.stringify({ Authorization: `Bearer ${key}` }),
      // Headers typed into the editor are not kept in the browser's storage.
      shouldPersistHeaders: false,
    };
  };
}

/** The page is about 9 MB of inlined code: built once per distinct options (two at most). */
export function createGraphiQLRenderer() {
  const pages = new Map<string, string>();
  return (options: GraphiQLOptions): string => {
    const cacheKey = JSON.stringify(options);
    let page = pages.get(cacheKey);
    if (page === undefined) {
      page = renderGraphiQL(options);
      if (pages.size >= 4) pages.clear();
      pages.set(cacheKey, page);
    }
    return page;
  };
}
