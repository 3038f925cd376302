// SIGTERM on a real server process (role all): WebSocket clients are closed with
// 1001, no new connections are taken, a request already in flight is answered,
// a step job mid-send finishes (the email goes out once, the step is recorded),
// and the process exits 0.
import { request } from 'node:http';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { afterAll, expect, it } from 'vitest';
import { createPrismaClient } from '../../src/db/client.js';
import { createTestDatabase } from '../helpers/database.js';
import { startServerProcess, type ServerProcess } from '../helpers/server-process.js';
import { startSmtpSink } from '../helpers/smtp-sink.js';

const KEY = 'sk_shutdown_test_key_0123456789abcdef';
const { url } = await createTestDatabase();
const prisma = createPrismaClient(url);
const smtp = await startSmtpSink();
let server: ServerProcess | undefined;
afterAll(async () => {
  server?.child.kill('SIGKILL');
  await smtp.close();
  await prisma.$disconnect();
});

async function start(): Promise<ServerProcess> {
  server = await startServerProcess(
    { DATABASE_URL: url, STEPWISE_API_KEY: KEY, STEPWISE_ROLE: 'all', SMTP_URL: smtp.url, SHUTDOWN_TIMEOUT_MS: '20000' },
    { ready: /workers are running/ },
  );
  return server;
}

it('SIGTERM drains HTTP, WebSocket and step jobs, then exits 0', { timeout: 120_000 }, async () => {
  const server = await start();
  const gql = async (query: string, variables?: object) =>
    (await (await fetch(`http://127.0.0.1:${server.port}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY}` },
      body: JSON.stringify({ query, variables }),
    })).json()) as any;

  const created = await gql(`mutation { createSequence(input: { name: "Drain", trigger: MANUAL, steps: [
    { subject: "Slow one", blocks: [{ type: "text", text: "1" }] } ] }) { sequence { id } errors { message } } }`);
  const sequenceId = created.data.createSequence.sequence.id;
  await gql(`mutation($id: ID!) { enableSequence(id: $id) { errors { message } } }`, { id: sequenceId });

  // A live subscription: it must be closed with 1001 (Going away).
  const client = createClient({ url: `ws://127.0.0.1:${server.port}/graphql`, webSocketImpl: WebSocket, connectionParams: { Authorization: `Bearer ${KEY}` }, retryAttempts: 0 });
  const closed = new Promise<number>((resolve) => client.on('closed', (event) => resolve((event as { code: number }).code)));
  const subscribed = new Promise<void>((resolve) => {
    client.subscribe({ query: 'subscription { enrollmentChanged(after: "0") { cursor } }' }, { next: () => resolve(), error: () => {}, complete: () => {} });
  });

  // A request in flight across the signal: its body arrives in two halves.
  const body = JSON.stringify({ query: '{ sequences { edges { node { name } } } }' });
  let answer: Promise<{ status: number; text: string }> | undefined;
  const slow = request({
    host: '127.0.0.1',
    port: server.port,
    path: '/graphql',
    method: 'POST',
    headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), authorization: `Bearer ${KEY}` },
  });
  answer = new Promise((resolve, reject) => {
    slow.on('response', (res) => {
      let text = '';
      res.on('data', (c) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode!, text }));
    });
    slow.on('error', reject);
  });
  slow.write(body.slice(0, 10));

  // A step job mid-send: the relay holds the message while the signal arrives.
  smtp.delayMs = 1500;
  const arriving = new Promise<void>((resolve) => (smtp.onIncoming = resolve));
  const enrolled = await gql(`mutation($input: EnrollSubscriberInput!) { enrollSubscriber(input: $input) { enrollment { id } errors { message } } }`, {
    input: { sequenceId, subscriber: { email: 'drain@x.io' } },
  });
  const enrollmentId = enrolled.data.enrollSubscriber.enrollment.id;
  await subscribed;
  await arriving;

  server.child.kill('SIGTERM');
  expect(await closed).toBe(1001);
  // No new work once draining: a new connection is refused, a kept-alive one gets 503.
  const late = await fetch(`http://127.0.0.1:${server.port}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY}` },
    body: JSON.stringify({ query: '{ lists { id } }' }),
  }).then((r) => r.status, () => 'refused');
  expect([503, 'refused']).toContain(late);
  // The in-flight request is still answered.
  slow.end(body.slice(10));
  const { status, text } = await answer;
  expect(status).toBe(200);
  expect(JSON.parse(text)).toEqual({ data: { sequences: { edges: [{ node: { name: 'Drain' } }] } } });

  expect(await server.exited).toBe(0);
  expect(server.output()).toMatch(/"msg":"stopped"/);
  // The step that was being sent finished: delivered once, recorded SENT, run completed.
  expect(smtp.messages.map((m) => m.subject)).toEqual(['Slow one']);
  // (The database holds only this run.)
  expect(enrollmentId).toMatch(/^enr_/);
  expect(await prisma.stepRun.findMany({ select: { status: true } })).toEqual([{ status: 'SENT' }]);
  expect(await prisma.enrollment.findMany({ select: { status: true } })).toEqual([{ status: 'COMPLETED' }]);
});
