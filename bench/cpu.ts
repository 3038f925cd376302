// CPU time from Linux /proc: steadier than wall time on a shared machine, where
// a figure follows the other work as much as the code measured.
import { readFileSync } from 'node:fs';

/** User + system CPU seconds of a process so far; 0 when unknown (not Linux, or gone). */
export function processCpuSeconds(pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return 0;
  }
}

/**
 * CPU seconds of the Postgres backends serving the current database, by pid.
 * Diff two readings with `cpuSince`: a backend that connected in between counts
 * from its start, one that exited in between is missed.
 */
export async function backendCpu(prisma: { $queryRaw: (q: TemplateStringsArray) => Promise<unknown> }): Promise<Map<number, number>> {
  const backends = (await prisma.$queryRaw`SELECT pid FROM pg_stat_activity WHERE datname = current_database()`) as { pid: number }[];
  return new Map(backends.map((b) => [b.pid, processCpuSeconds(b.pid)]));
}

export function cpuSince(before: Map<number, number>, after: Map<number, number>): number {
  let seconds = 0;
  for (const [pid, now] of after) seconds += now - (before.get(pid) ?? 0);
  return seconds;
}

/** A process.cpuUsage() difference in milliseconds. */
export const cpuMs = (usage: NodeJS.CpuUsage) => (usage.user + usage.system) / 1000;
