// Emits the `.d.ts` of the public entry points (gatehouse/client, gatehouse/owner) into dist/types with
// tsc (tsconfig.types.json), then spells every relative import with its `.js` file: the sources import
// without extensions (moduleResolution "bundler"), which a NodeNext consumer cannot resolve and would
// silently read as `any`. tsc has no option for that rewrite (rewriteRelativeImportExtensions only
// rewrites imports written with `.ts`), and 44 files do not need a d.ts bundler.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const outdir = join(root, 'dist/types');

function* dtsFiles(dir: string): Generator<string> {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) yield* dtsFiles(path);
    else if (name.endsWith('.d.ts')) yield path;
  }
}

/** `./x` → `./x.js` or `./x/index.js`, whichever declaration exists; anything else unchanged. */
export function withJsExtension(file: string, specifier: string): string {
  if (!specifier.startsWith('./') && !specifier.startsWith('../')) return specifier;
  if (/\.(js|mjs|cjs|json)$/.test(specifier)) return specifier;
  const target = resolve(dirname(file), specifier);
  if (existsSync(`${target}.d.ts`)) return `${specifier}.js`;
  if (existsSync(join(target, 'index.d.ts'))) return `${specifier}/index.js`;
  throw new Error(`${file}: cannot resolve the declaration of "${specifier}"`);
}

export function buildTypes(): void {
  rmSync(outdir, { recursive: true, force: true });
  execFileSync(join(root, 'node_modules/.bin/tsc'), ['-p', join(root, 'tsconfig.types.json')], { stdio: 'inherit' });
  for (const file of dtsFiles(outdir)) {
    const text = readFileSync(file, 'utf8');
    const fixed = text
      .replace(/(\bfrom\s+)(["'])([^"']+)\2/g, (_m, pre: string, q: string, spec: string) => `${pre}${q}${withJsExtension(file, spec)}${q}`)
      .replace(/(\bimport\(\s*)(["'])([^"']+)\2/g, (_m, pre: string, q: string, spec: string) => `${pre}${q}${withJsExtension(file, spec)}${q}`);
    if (fixed !== text) writeFileSync(file, fixed);
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) buildTypes();
