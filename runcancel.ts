import { benchCancel } from './bench/cancel.ts';
const r = await benchCancel();
console.log(r.title); for (const [k, v] of r.rows) console.log(k.padEnd(55), v);
process.exit(0);
