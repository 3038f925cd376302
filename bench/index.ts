// `npm run bench`: runs every benchmark and prints its figures.
import { benchCancel } from './cancel.js';
import { benchEngine, engineBenchOptions } from './engine.js';
import { benchTracking } from './tracking.js';

await benchEngine(engineBenchOptions());
await benchCancel();
await benchTracking();
process.exit(0);
