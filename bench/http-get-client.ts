// The tracking bench's load generator, run as its own process (bench/tracking.ts):
// GETs the URLs given on stdin (one a line), `concurrency` at a time over kept-alive
// connections, and prints {"seconds", "failures"} once all are answered. Apart from
// the server, so the server's process does nothing but serve (as in production,
// where the clients are elsewhere); the bare node:http ceiling is measured the same way.
import { Agent, get } from 'node:http';
import { text } from 'node:stream/consumers';

const concurrency = Number(process.argv[2] ?? 16);
const urls = (await text(process.stdin)).split('\n').filter(Boolean);
const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
let next = 0;
let failures = 0;
const started = performance.now();
await Promise.all(
  Array.from({ length: concurrency }, async () => {
    while (next < urls.length) {
      const url = urls[next++]!;
      await new Promise<void>((resolve, reject) => {
        get(url, { agent }, (res) => {
          if (res.statusCode !== 200 && res.statusCode !== 302) failures++;
          res.resume().once('end', resolve);
        }).once('error', reject);
      });
    }
  }),
);
process.stdout.write(JSON.stringify({ seconds: (performance.now() - started) / 1000, failures }));
agent.destroy();
