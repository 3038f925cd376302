// `npm run bench:tracking`: only the tracking phase of `npm run bench` (open pixel,
// click redirect, forged links, stats), with the same sizes and switches
// (BENCH_QUICK, BENCH_TRACKING_MESSAGES, BENCH_TRACKING_REQUESTS, BENCH_TRACKING_CONCURRENCY).
import './as-deployed.js';
import { stopBenchServer } from './database.js';
import { printFigures } from './report.js';
import { benchTracking } from './tracking.js';

const quick = process.env.BENCH_QUICK === '1';
const size = (name: string, full: number, small: number) => Number(process.env[name] || (quick ? small : full));
try {
  const tracking = await benchTracking({
    messages: size('BENCH_TRACKING_MESSAGES', 1_000_000, 20_000),
    requests: size('BENCH_TRACKING_REQUESTS', 4_000, 500),
    concurrency: size('BENCH_TRACKING_CONCURRENCY', 16, 16),
  });
  printFigures('Tracking', tracking.figures);
} finally {
  await stopBenchServer();
}
process.exit(0);
