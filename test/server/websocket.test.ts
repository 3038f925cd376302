import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { useTestApp } from '../helpers/app.js';

const t = await useTestApp();
let port: number;
beforeAll(async () => {
  port = await t.app.start(0, '127.0.0.1');
});

function connect(connectionParams?: Record<string, unknown>) {
  return createClient({ url: `ws://127.0.0.1:${port}/graphql`, webSocketImpl: WebSocket, connectionParams, retryAttempts: 0, lazy: false });
}

/** Runs one operation over graphql-ws and returns its result or the close event. */
function run(client: ReturnType<typeof createClient>, query: string) {
  return new Promise<{ result?: any; closed?: { code: number; reason: string } }>((resolve) => {
    client.on('closed', (event) => {
      const e = event as { code: number; reason: string };
      resolve({ closed: { code: e.code, reason: e.reason } });
    });
    client.subscribe({ query }, { next: (result) => resolve({ result }), error: () => {}, complete: () => {} });
  });
}

it('accepts a key in connection_init and answers operations over WebSocket', async () => {
  const ws = await t.workspace();
  await ws.gql('mutation { createList(name: "Over WS") { id } }');
  const client = connect({ Authorization: `Bearer ${ws.key}` });
  afterAll(() => client.dispose());
  const { result } = await run(client, '{ lists { name } }');
  expect(result).toEqual({ data: { lists: [{ name: 'Over WS' }] } });
});

it('rejects connection_init without a key or with a wrong one', async () => {
  const none = await run(connect(), '{ lists { name } }');
  expect(none.closed).toEqual({ code: 4403, reason: 'Forbidden' });
  const wrong = await run(connect({ Authorization: 'Bearer sk_nope' }), '{ lists { name } }');
  expect(wrong.closed).toEqual({ code: 4403, reason: 'Forbidden' });
});
