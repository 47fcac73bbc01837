#!/usr/bin/env node
// Runs the TypeScript CLI through tsx's loader: no build step between editing and running (tests, development).
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../server/cli/main.ts');
process.exitCode = await main(process.argv);
