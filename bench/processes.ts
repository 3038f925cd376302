// Stepwise as its own process (src/main.ts), for the benchmarks that measure a
// process from outside: the load test's API and worker processes, the worker
// whose memory the memory phase samples.
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { readFile } from 'node:fs/promises';

export interface StepwiseProcess {
  child: ChildProcess;
  /** The first match of `ready` in the process's output. */
  ready: RegExpExecArray;
  /** SIGTERM (a graceful stop) and wait for the exit. */
  stop(): Promise<void>;
}

/** How a Stepwise process is run: `npm start`'s TypeScript loader, or the production build (`npm run build`). */
export type StepwiseBuild = 'tsx' | 'dist';

export const STEPWISE_COMMANDS: Record<StepwiseBuild, string> = { tsx: 'node --import tsx src/main.ts', dist: 'node dist/main.js' };

/** Compiles src/ into dist/ (`npm run build`), for a process started with `build: 'dist'`. */
export function buildDist(): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('npm', ['run', 'build'], { stdio: ['ignore', 'ignore', 'inherit'] });
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`npm run build exited with ${code}`))));
  });
}

/**
 * Starts Stepwise (`src/main.ts` under tsx, or dist/main.js) with `env` over the current environment; resolves once its output matches `ready`.
 * `nodeArgs` go before the script (e.g. --cpu-prof, which NODE_OPTIONS does not take).
 */
export function startStepwise(env: NodeJS.ProcessEnv, ready: RegExp, nodeArgs: string[] = [], build: StepwiseBuild = 'tsx'): Promise<StepwiseProcess> {
  const [, ...args] = STEPWISE_COMMANDS[build].split(' ');
  const child = spawn(process.execPath, [...nodeArgs, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let output = '';
  return new Promise((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (output.length > 100_000) output = output.slice(-20_000);
      const match = ready.exec(output);
      if (match) {
        child.stdout!.off('data', onData);
        child.stderr!.off('data', onData);
        if (process.env.BENCH_CHILD_LOG) {
          // Each process's output from here on, to a file of its own (e.g. with --trace-gc).
          const out = createWriteStream(`${process.env.BENCH_CHILD_LOG}-${env.STEPWISE_ROLE ?? 'stepwise'}-${child.pid}.log`);
          child.stdout!.pipe(out);
          child.stderr!.pipe(out);
        } else {
          child.stdout!.resume();
          child.stderr!.resume();
        }
        resolve({
          child,
          ready: match,
          stop: async () => {
            if (child.exitCode === null) child.kill('SIGTERM');
            await exited;
          },
        });
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.on('exit', (code) => reject(new Error(`${env.STEPWISE_ROLE ?? 'stepwise'} exited with ${code}:\n${output.slice(-2000)}`)));
  });
}

/** Resident set size of a process in bytes (Linux /proc). */
export async function rssOf(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = /^VmRSS:\s+(\d+)\s+kB/m.exec(status)?.[1];
  if (!kb) throw new Error(`no VmRSS for process ${pid}`);
  return Number(kb) * 1024;
}
