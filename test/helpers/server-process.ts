// A real Stepwise process (`node --import tsx src/main.ts`) for tests that need
// its signals, exit code or separate pool: resolves once it logs that it listens
// (and, when `ready` is given, once its output also matches that). It listens on
// a free port and logs at info, which is how the port is read.
import { spawn, type ChildProcess } from 'node:child_process';

export interface ServerProcess {
  child: ChildProcess;
  port: number;
  output: () => string;
  exited: Promise<number | null>;
}

export function startServerProcess(env: NodeJS.ProcessEnv, options: { ready?: RegExp; timeoutMs?: number } = {}): Promise<ServerProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], { env: { ...process.env, PORT: '0', LOG_LEVEL: 'info', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let output = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`did not start:\n${output}`)), options.timeoutMs ?? 60_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const port = /GraphiQL at http:\/\/localhost:(\d+)\/graphql/.exec(output)?.[1];
      if (port && (!options.ready || options.ready.test(output))) {
        clearTimeout(timer);
        resolve({ child, port: Number(port), output: () => output, exited });
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    void exited.then((code) => reject(new Error(`exited with ${code}:\n${output}`)));
  });
}
