// `npm run bench:load` (kept apart from `npm run bench`: it takes minutes and many processes).
import { benchLoad } from './load.js';

await benchLoad();
process.exit(0);
