// The benchmarks measure the server as it is deployed (README: NODE_ENV=production),
// ceilings and engine alike: without it graphql-js, for one, runs development-only
// checks on every value it handles. Imported first by each entry point, before any
// library reads NODE_ENV; the processes they start inherit it. An explicit NODE_ENV is kept.
process.env.NODE_ENV ??= 'production';
