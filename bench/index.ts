// `npm run bench`: runs every benchmark and prints its figures.
import { benchCancel } from './cancel.js';
import { benchEngine, engineBenchOptions } from './engine.js';

await benchEngine(engineBenchOptions());
await benchCancel();
process.exit(0);
