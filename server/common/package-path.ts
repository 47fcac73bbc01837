import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

// The folder holding package.json, found by walking up: this file sits at a different depth as source
// (server/common/*.ts under tsx or vitest) than compiled (a chunk under dist/server/), so a fixed
// '../../' would point into dist/ once bundled.
function findPackageRoot(from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    if (dirname(dir) === dir) throw new Error(`gatehouse: no package.json above ${from}`);
  }
}

const packageRoot = findPackageRoot(dirname(fileURLToPath(import.meta.url)));

/** A path inside the installed package (drizzle/…, dist/web), the same from source and from dist/. */
export const packagePath = (...segments: string[]): string => join(packageRoot, ...segments);
