// `npm run bench:load` (kept apart from `npm run bench`: it takes minutes and many processes).
import './as-deployed.js';
import { stopBenchServer } from './database.js';
import { benchLoad } from './load.js';

try {
  await benchLoad();
} finally {
  // The embedded Postgres, when the run started one: left running, each run kept a server (and its data) behind.
  await stopBenchServer();
}
process.exit(0);
