// scratch: statement cost of the recorder by batch size (not committed)
import { benchDatabase } from './database.js';
import { backendCpu, cpuSince } from './cpu.js';
import { TrackingRecorder } from '../src/services/tracking-recorder.js';

const bench = await benchDatabase();
const { prisma } = bench;
try {
  const workspace = await prisma.workspace.create({ data: { name: 'bench' } });
  const sequence = await prisma.sequence.create({ data: { workspaceId: workspace.id, slug: 'bench', name: 'bench', triggerType: 'MANUAL', status: 'ACTIVE' } });
  const step = await prisma.step.create({ data: { sequenceId: sequence.id, position: 1, type: 'EMAIL', subject: 'Bench', blocks: [] } });
  await prisma.$executeRawUnsafe(
    `INSERT INTO "Message" (id, "workspaceId", "stepId", "to", subject, html, status, "smtpMessageId", "sentAt", "deliveredAt")
     SELECT gen_random_uuid(), $1::uuid, $2::uuid, 'p' || i || '@example.com', 'Bench', '<p>bench</p>', 'DELIVERED', '<b-' || i || '>', now(), now()
     FROM generate_series(1, 100000) AS i`, workspace.id, step.id);
  await prisma.$executeRawUnsafe('VACUUM ANALYZE "Message"');
  const ids = (await prisma.$queryRawUnsafe<{ id: string }[]>(`SELECT id::text FROM "Message" ORDER BY random() LIMIT 60000`)).map((r) => r.id);
  let at = 0;
  const kinds = (process.env.KINDS ?? 'open,click').split(',');
  for (const size of (process.env.SIZES ?? '1,5,40,200').split(',').map(Number)) for (const kind of kinds) {
    const recorder = new TrackingRecorder(prisma, { concurrency: 1, openGatherMs: 0, maxBatch: size });
    const n = Math.max(2000, size * 20);
    const pg = await backendCpu(prisma);
    const cpu = process.cpuUsage();
    const t = performance.now();
    for (let i = 0; i < n; i += size) {
      await Promise.all(Array.from({ length: size }, (_, j) => recorder.record({ kind: kind as 'open', messageId: ids[(at + i + j) % ids.length]!, workspaceId: workspace.id, url: kind === 'click' ? 'https://example.com/x' : null, userAgent: 'Mozilla/5.0 bench', at: new Date() })));
    }
    at += n;
    const wall = performance.now() - t;
    const used = process.cpuUsage(cpu);
    const pgs = cpuSince(pg, await backendCpu(prisma));
    const stm = recorder.writes;
    console.log(`${kind} batch ${size}: ${stm} stmts, wall ${(wall / stm).toFixed(2)} ms/stmt, pg ${((pgs * 1e6) / n).toFixed(0)} µs/fact ${((pgs * 1e3) / stm).toFixed(2)} ms/stmt, node ${((used.user + used.system) / n).toFixed(0)} µs/fact`);
  }
} finally {
  if (process.env.KEEP) console.log('kept', bench.url); else await bench.close();
  process.exit(0);
}
