#!/usr/bin/env node
// Runs the compiled CLI (dist/server, built by `npm run build`, `npm start` and `npm install`'s prepare).
// Source maps turn stack traces back into server/**/*.ts lines; bin/gatehouse-dev.js runs the sources through tsx.
process.setSourceMapsEnabled(true);
const entry = new URL('../dist/server/main.js', import.meta.url);
const { main } = await import(entry.href).catch((error) => {
  if (error?.code !== 'ERR_MODULE_NOT_FOUND' || !String(error.message).includes(entry.pathname)) throw error;
  console.error('gatehouse: not built yet. Run `npm run build` (or bin/gatehouse-dev.js to run the sources).');
  process.exit(1);
});
process.exitCode = await main(process.argv);
