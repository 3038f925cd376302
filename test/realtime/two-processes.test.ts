// Two real server processes on one database: an API process (no workers) and a
// worker process (no HTTP). A client subscribed on the API process sees, in
// order, every change of runs that the worker process executes.
import { spawn, type ChildProcess } from 'node:child_process';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { afterAll, expect, it } from 'vitest';
import { createTestDatabase } from '../helpers/database.js';

const KEY = 'sk_two_processes_test_key_0123456789';
const { url } = await createTestDatabase();
const children: ChildProcess[] = [];
afterAll(() => {
  for (const child of children) child.kill('SIGKILL');
});

function startProcess(role: 'api' | 'worker', ready: RegExp): Promise<{ output: () => string; match: RegExpExecArray }> {
  const env: NodeJS.ProcessEnv = { ...process.env, DATABASE_URL: url, STEPWISE_API_KEY: KEY, STEPWISE_ROLE: role, PORT: '0', LOG_LEVEL: 'info', WORKER_CONCURRENCY: '4' };
  delete env.SMTP_URL;
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let output = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${role} did not start:\n${output}`)), 60_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const match = ready.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve({ output: () => output, match });
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.on('exit', (code) => reject(new Error(`${role} exited with ${code}:\n${output}`)));
  });
}

it('a subscriber on the API process sees, in order, the changes made by the worker process', { timeout: 120_000 }, async () => {
  const api = await startProcess('api', /GraphiQL at http:\/\/localhost:(\d+)\/graphql/);
  const port = Number(api.match[1]);
  await startProcess('worker', /workers are running/);
  const gql = async (query: string, variables?: object) =>
    (await (await fetch(`http://127.0.0.1:${port}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY}` },
      body: JSON.stringify({ query, variables }),
    })).json()) as any;

  const created = await gql(`mutation { createSequence(input: { name: "Across", trigger: MANUAL, steps: [
    { subject: "One", blocks: [{ type: "text", text: "1" }] }, { subject: "Two", blocks: [{ type: "text", text: "2" }] } ] }) { sequence { id } errors { message } } }`);
  const sequenceId = created.data.createSequence.sequence.id;
  await gql(`mutation($id: ID!) { enableSequence(id: $id) { errors { message } } }`, { id: sequenceId });

  const runs = 20;
  const client = createClient({ url: `ws://127.0.0.1:${port}/graphql`, webSocketImpl: WebSocket, connectionParams: { Authorization: `Bearer ${KEY}` }, retryAttempts: 0 });
  afterAll(() => client.dispose());
  const changes: any[] = [];
  const done = new Promise<void>((resolve, reject) => {
    client.subscribe(
      // From cursor 0: the fresh database's log holds only this sequence, and no change can slip in before the subscription is set up.
      { query: `subscription($s: ID) { enrollmentChanged(sequenceId: $s, after: "0") { cursor previousStatus status enrollment { id } } }`, variables: { s: sequenceId } },
      {
        next: (r) => {
          if (r.errors) reject(new Error(JSON.stringify(r.errors)));
          changes.push(r.data!.enrollmentChanged);
          if (changes.length === runs * 2) resolve();
        },
        error: reject,
        complete: () => {},
      },
    );
  });
  const ids: string[] = [];
  for (let i = 0; i < runs; i++) {
    const res = await gql(`mutation($input: EnrollSubscriberInput!) { enrollSubscriber(input: $input) { enrollment { id } errors { message } } }`, {
      input: { sequenceId, subscriber: { email: `p${i}@x.io` } },
    });
    ids.push(res.data.enrollSubscriber.enrollment.id);
  }
  await done;
  // Each run: started (by the API process), then completed after both steps (by the worker process).
  for (const id of ids) {
    expect(changes.filter((c) => c.enrollment.id === id).map((c) => [c.previousStatus, c.status])).toEqual([
      [null, 'ACTIVE'],
      ['ACTIVE', 'COMPLETED'],
    ]);
  }
  const cursors = changes.map((c) => BigInt(c.cursor));
  for (let i = 1; i < cursors.length; i++) expect(cursors[i]! > cursors[i - 1]!).toBe(true);
  // The API process runs no workers: every step was executed by the worker process.
  const history = await gql(`query($id: ID!) { enrollment(id: $id) { history { status } } }`, { id: ids[0] });
  expect(history.data.enrollment.history).toEqual([{ status: 'SENT' }, { status: 'SENT' }]);
});
