// `npm run bench`: runs every benchmark and prints its figures.
import { benchEngine, engineBenchOptions } from './engine.js';

await benchEngine(engineBenchOptions());
process.exit(0);
