// simulateSequence latency: a saved 10-step sequence spanning 90 days (a Berlin
// send window, merge tags, a tracked link), one subscriber and a few happenings,
// asked CALLS times one after the other through the whole GraphQL stack in
// process (yoga.fetch: parse, validate, resolvers, database reads, the pure
// simulation, rendering; no socket). p50 and p99 after a warm-up, and the pure
// simulation alone for comparison.
import os from 'node:os';
import { createWorkspaceWithKey } from '../src/auth/api-keys.js';
import { simulate } from '../src/domain/simulation.js';
import { loadMachineSequences } from '../src/engine/lifecycle.js';
import { decodeId } from '../src/domain/public-id.js';
import { createLogger } from '../src/logger.js';
import { buildApp } from '../src/server/app.js';
import { benchDatabase } from './database.js';
import { createRuntime } from '../src/runtime.js';
import { printTable, type Figure } from './report.js';

const SIMULATE = `mutation($input: SimulateSequenceInput!) { simulateSequence(input: $input) {
  timeline { at outcome position reason subject previewText html text } finalStatus endedAt errors { field message } } }`;

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;

export async function benchSimulate(CALLS: number): Promise<Figure[]> {
  const bench = await benchDatabase();
  // The API's runtime (no workers: a simulation enqueues nothing).
  const runtime = createRuntime({ DATABASE_URL: bench.url }, { db: bench.prisma, workers: false });
  const app = buildApp({ runtime, logger: createLogger('silent'), settings: { RATE_LIMIT_PER_MINUTE: 0 } });
  try {
    const { key } = await createWorkspaceWithKey(bench.prisma, 'bench');
    const gql = async (query: string, variables: Record<string, unknown>) => {
      const res = await app.yoga.fetch('http://bench.local/graphql', {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
        body: JSON.stringify({ query, variables }),
      });
      return (await res.json()) as { data: any; errors?: unknown[] };
    };
    // Ten emails: the first at once, then one every 10 days (90 days in all).
    const steps = Array.from({ length: 10 }, (_, i) => ({
      subject: `Day ${i * 10}: hello {{subscriber.firstName|there}}`,
      previewText: 'Plan {{event.plan|free}}',
      delay: { days: i === 0 ? 0 : 10 },
      blocks: [
        { type: 'heading', text: `Step ${i + 1}` },
        { type: 'text', text: 'Hi {{subscriber.firstName}}, your {{event.plan}} plan in {{subscriber.city|your city}}.' },
        { type: 'button', text: 'Open', url: 'https://example.com/app' },
      ],
    }));
    const created = await gql(`mutation($input: CreateSequenceInput!) { createSequence(input: $input) { sequence { id } errors { message } } }`, {
      input: {
        name: 'Bench 90 days',
        trigger: 'EVENT_RECEIVED',
        eventName: 'signed_up',
        stopCondition: { type: 'HAS_TAG', value: 'bought' },
        sendWindow: { timezone: 'Europe/Berlin', daysOfWeek: [1, 2, 3, 4, 5], startHour: 9, endHour: 17 },
        steps,
      },
    });
    const sequenceId = created.data.createSequence.sequence.id as string;
    const subscriber = await gql(`mutation($input: SubscriberInput!) { upsertSubscriber(input: $input) { subscriber { id } } }`, {
      input: { email: 'bench@example.com', firstName: 'Ada', attributes: { city: 'Berlin' } },
    });
    const input = {
      sequenceId,
      subscriberId: subscriber.data.upsertSubscriber.subscriber.id,
      properties: { plan: 'pro' },
      startAt: '2026-03-02T10:00:00Z',
      happenings: [
        { after: 'P3D', kind: 'TAG_ADDED', tag: 'engaged' },
        { after: 'P20D', kind: 'EVENT', event: 'login' },
        { after: 'P40D', kind: 'REPLY', fromPrimary: false },
      ],
    };
    const call = async () => {
      const res = await gql(SIMULATE, { input });
      const payload = res.data?.simulateSequence;
      const sent = payload?.timeline.filter((e: { outcome: string }) => e.outcome === 'SENT').length;
      if (res.errors || payload.errors.length || sent !== 10 || payload.finalStatus !== 'COMPLETED') throw new Error(`simulateSequence bench: unexpected answer ${JSON.stringify(res).slice(0, 500)}`);
    };
    for (let i = 0; i < 10; i++) await call(); // warm-up: compiled templates, prepared plans
    const ms: number[] = [];
    for (let i = 0; i < CALLS; i++) {
      const t0 = performance.now();
      await call();
      ms.push(performance.now() - t0);
    }
    ms.sort((a, b) => a - b);
    // The floor under it: an authenticated query that does nothing, through the same stack.
    const floor: number[] = [];
    for (let i = 0; i < CALLS; i++) {
      const t0 = performance.now();
      await gql('{ __typename }', {});
      floor.push(performance.now() - t0);
    }
    floor.sort((a, b) => a - b);

    // The pure simulation alone (no GraphQL, no database, no rendering).
    const machine = (await loadMachineSequences(bench.prisma, [{ sequenceId: decodeId('Sequence', sequenceId, []), version: 1 }])).values().next().value!;
    const pure: number[] = [];
    for (let i = 0; i < CALLS; i++) {
      const t0 = performance.now();
      simulate({
        sequence: {
          machine,
          start: { id: machine.id, enrollmentMode: 'UNLIMITED', enrollmentFieldPath: null, triggerEventName: 'signed_up', maxActivations: null, throttleCapacity: null, throttleMaxAddsPerDay: null, throttlePaused: false },
          stopCondition: { type: 'HAS_TAG', value: 'bought' },
        },
        subscriber: { id: 'bench', status: 'ACTIVE' },
        startAt: new Date(input.startAt),
        entry: { eventName: 'signed_up', properties: input.properties },
        happenings: [],
      });
      pure.push(performance.now() - t0);
    }
    pure.sort((a, b) => a - b);

    const p50 = percentile(ms, 50);
    const p99 = percentile(ms, 99);
    printTable(`simulateSequence (10 steps over 90 days, ${CALLS} calls one at a time, in process through yoga.fetch)`, [
      { measure: 'p50', value: `${p50.toFixed(1)} ms` },
      { measure: 'p99', value: `${p99.toFixed(1)} ms` },
      { measure: 'max', value: `${ms.at(-1)!.toFixed(1)} ms` },
      { measure: 'floor: `{ __typename }` p50 / p99, same stack', value: `${percentile(floor, 50).toFixed(1)} ms / ${percentile(floor, 99).toFixed(1)} ms` },
      { measure: 'pure simulation p50 (domain only)', value: `${percentile(pure, 50).toFixed(3)} ms` },
      // Other work on the machine shows in these figures: say how much there was.
      { measure: 'load average (1 min) after', value: `${os.loadavg()[0]!.toFixed(1)} on ${os.cpus().length} cores` },
    ]);
    const note = 'in process, yoga.fetch, 10 steps / 90 days';
    return [
      { name: 'simulateSequence p50', value: p50, unit: 'ms', target: { max: 50 }, note },
      { name: 'simulateSequence p99', value: p99, unit: 'ms', target: { max: 50 }, note },
    ];
  } finally {
    await app.stop();
    await bench.close();
  }
}
