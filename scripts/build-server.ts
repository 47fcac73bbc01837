// Compiles the servers and the CLI into dist/server: one ESM bundle split at every dynamic import, so
// the CLI still loads each command only when it runs (`gatehouse --help` stays small). Packages stay
// in node_modules (better-sqlite3 is native); source maps point stack traces back at server/**/*.ts.
import { build } from 'esbuild';
import { rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const serverEntry = fileURLToPath(new URL('../server/cli/main.ts', import.meta.url));

/** What every bundle here shares: ESM for Node 20+, packages left in node_modules, source maps without sources. */
const nodeBundle = {
  bundle: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  packages: 'external',
  sourcemap: true,
  sourcesContent: false,
  logLevel: 'warning',
} as const;

/** Builds into outdir (emptied first); it must sit inside the package, where package.json is found from it. */
export async function buildServer(outdir: string): Promise<void> {
  rmSync(outdir, { recursive: true, force: true });
  await build({
    ...nodeBundle,
    entryPoints: [serverEntry],
    outdir,
    splitting: true,
    chunkNames: 'chunks/[name]-[hash]',
  });
}

/** The importable entry points (package.json `exports`): gatehouse/client and gatehouse/owner, for Node and bundlers. */
export const libraryEntries = {
  'client/index': fileURLToPath(new URL('../shared/client/index.ts', import.meta.url)),
  'owner/index': fileURLToPath(new URL('../server/env/owner/index.ts', import.meta.url)),
};

export async function buildLibrary(distdir: string): Promise<void> {
  for (const name of Object.keys(libraryEntries)) rmSync(`${distdir}/${name.split('/')[0]}`, { recursive: true, force: true });
  await build({
    ...nodeBundle,
    entryPoints: libraryEntries,
    outdir: distdir,
  });
}

/**
 * The benchmark, compiled with the same settings as the servers (`npm run bench`), so it measures
 * the JavaScript production runs rather than tsx. Split, so every entry (and the children that
 * bench/relay-pg.ts forks from its own module) loads the same chunks.
 */
export async function buildBench(outdir: string): Promise<void> {
  rmSync(outdir, { recursive: true, force: true });
  const bench = (name: string) => fileURLToPath(new URL(`../bench/${name}.ts`, import.meta.url));
  await build({
    ...nodeBundle,
    entryPoints: ['run', 'worker', 'relay-cpu-once'].map(bench),
    outdir,
    splitting: true,
  });
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  if (process.argv.includes('--bench')) {
    await buildBench(fileURLToPath(new URL('../.tmp/bench', import.meta.url)));
  } else {
    await buildServer(fileURLToPath(new URL('../dist/server', import.meta.url)));
    await buildLibrary(fileURLToPath(new URL('../dist', import.meta.url)));
  }
}
