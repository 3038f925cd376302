// A test clock advanced by 30 days over 1,000 runs: the runs start in batches a
// minute apart (trackEvents on the test clock), each with five emails spread over
// two weeks, and one advanceTestClock call works every step on the virtual clock.
import os from 'node:os';
import { createWorkspaceWithKey, createTestKey } from '../src/auth/api-keys.js';
import { fixedClock } from '../src/clock.js';
import { encodeId } from '../src/domain/public-id.js';
import { trackEvents } from '../src/services/events.js';
import { changeSequenceStatus, createSequence } from '../src/services/sequences.js';
import { advanceTestClock } from '../src/services/test-clock.js';
import { benchDatabase } from './database.js';
import { startEngine } from './engine-runtime.js';
import { printTable, type Figure } from './report.js';

const T0 = new Date('2026-03-02T08:00:00Z');
const BATCHES = 10;

export async function benchTestClock(runs: number): Promise<Figure[]> {
  const bench = await benchDatabase();
  const { prisma } = bench;
  const engine = await startEngine(bench, {});
  try {
    const live = await createWorkspaceWithKey(prisma, 'bench live');
    const twin = (await createTestKey(prisma, live.workspaceId, T0))!;
    const actor = { workspaceId: twin.workspaceId, runtime: engine.runtime };
    const step = (n: number, days: number) => ({ subject: `Step ${n}, {{subscriber.email}}`, delay: { days }, blocks: [{ type: 'text', text: `Email ${n}` }] });
    const sequenceId = await createSequence(actor, {
      name: 'Bench drip',
      trigger: 'EVENT_RECEIVED',
      eventName: 'signed_up',
      steps: [step(1, 0), step(2, 1), step(3, 2), step(4, 4), step(5, 7)],
    });
    await changeSequenceStatus(actor, encodeId('Sequence', sequenceId), 'enable');
    const perBatch = Math.ceil(runs / BATCHES);
    for (let b = 0; b < BATCHES; b++) {
      const at = new Date(T0.getTime() + b * 60_000);
      const events = Array.from({ length: Math.min(perBatch, runs - b * perBatch) }, (_, i) => ({ email: `bench${b * perBatch + i}@example.com`, event: 'signed_up' }));
      if (events.length) await trackEvents({ ...actor, runtime: { ...engine.runtime, clock: fixedClock(at) } }, events);
    }
    await prisma.workspace.update({ where: { id: twin.workspaceId }, data: { testClockTime: new Date(T0.getTime() + BATCHES * 60_000) } });

    const started = performance.now();
    const cpu = process.cpuUsage();
    const clock = await advanceTestClock(actor, { by: 'P30D' }, { waitMs: 600_000 });
    const seconds = (performance.now() - started) / 1000;
    const used = process.cpuUsage(cpu);
    const cpuSeconds = (used.user + used.system) / 1e6;
    const sent = await prisma.message.count({ where: { workspaceId: twin.workspaceId, status: 'SENT' } });
    const completed = await prisma.enrollment.count({ where: { workspaceId: twin.workspaceId, status: 'COMPLETED' } });
    printTable(`test clock: advance 30 days over ${runs.toLocaleString('en')} runs (${bench.where})`, [
      { measure: 'runs (5 emails each, over 14 days; started in 10 batches a minute apart)', value: runs.toLocaleString('en') },
      { measure: 'advanceTestClock(by: "P30D") until READY', value: `${seconds.toFixed(2)} s` },
      { measure: 'clock after', value: `${clock?.status} at ${clock?.frozenTime.toISOString()}` },
      { measure: 'CPU time of this process during the advance (steadier than the wall time on a busy machine)', value: `${cpuSeconds.toFixed(2)} s, ${((cpuSeconds * 1000) / Math.max(1, runs * 5)).toFixed(2)} ms per email` },
      { measure: 'emails captured SENT / runs COMPLETED', value: `${sent.toLocaleString('en')} / ${completed.toLocaleString('en')}` },
      // Every email is rendered and its headers composed on this process's CPU: the figure follows the machine's load.
      { measure: 'load average (1 min) after, cores', value: `${os.loadavg()[0]!.toFixed(1)}, ${os.cpus().length}` },
    ]);
    return [
      { name: `advance a test clock 30 days, ${runs.toLocaleString('en')} runs`, value: seconds, unit: 's', target: { max: 10 } },
      { name: 'test clock: emails sent on the virtual clock', value: sent, unit: 'emails', target: { min: runs * 5 } },
    ];
  } finally {
    await engine.stop();
    await bench.close();
  }
}
