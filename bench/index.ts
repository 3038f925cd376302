// `npm run bench`: runs every benchmark and prints its figures.
console.log('no benchmarks yet');
