// The production runtime: bin/gatehouse.js running the esbuild output (not tsx), built here into a
// scratch copy inside the package so it finds drizzle/ and dist/web exactly as dist/server does.
import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildServer } from '../../scripts/build-server';

const repoRoot = join(import.meta.dirname, '../..');
let scratch: string;
let bin: string;

function run(args: string[], until?: string) {
  const child = spawn(process.execPath, [bin, ...args], { stdio: 'pipe' });
  let out = '';
  child.stdout.on('data', (c) => (out += c));
  child.stderr.on('data', (c) => (out += c));
  return new Promise<{ out: string; code: number | null; stop: () => Promise<void> }>((resolve) => {
    const stop = () => new Promise<void>((done) => (child.exitCode !== null ? done() : (child.once('close', () => done()), child.kill('SIGINT'))));
    if (until) child.stdout.on('data', () => out.includes(until) && resolve({ out, code: null, stop }));
    child.on('close', (code) => resolve({ out, code, stop }));
  });
}

/** Every package the chunk and the chunks it imports statically load: what runs before any command does. */
function staticPackages(file: string, seen = new Set<string>(), packages = new Set<string>()): Set<string> {
  if (seen.has(file)) return packages;
  seen.add(file);
  const code = readFileSync(file, 'utf8');
  for (const [, spec] of code.matchAll(/^(?:import|export)\s(?:[^'"]*?\sfrom\s)?["']([^"']+)["'];?$/gms)) {
    if (spec!.startsWith('.')) staticPackages(join(dirname(file), spec!), seen, packages);
    else packages.add(spec!);
  }
  return packages;
}

beforeAll(async () => {
  mkdirSync(join(repoRoot, '.tmp'), { recursive: true });
  scratch = mkdtempSync(join(repoRoot, '.tmp', 'compiled-'));
  await buildServer(join(scratch, 'dist/server'));
  mkdirSync(join(scratch, 'bin'));
  bin = join(scratch, 'bin/gatehouse.js');
  copyFileSync(join(repoRoot, 'bin/gatehouse.js'), bin);
}, 60_000);
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('the compiled CLI', () => {
  it('answers --help having loaded commander and nothing of the servers', async () => {
    const { out, code } = await run(['--help']);
    expect(code).toBe(0);
    expect(out).toContain('gatehouse start');
    expect([...staticPackages(join(scratch, 'dist/server/main.js'))].filter((p) => !p.startsWith('node:'))).toEqual(['commander']);
  });

  it('starts the embedded default: both databases migrate from drizzle/, the environment serves dist/web', { timeout: 60_000 }, async () => {
    const started = await run(['start', '--data-dir', join(scratch, 'data'), '--env-port', '0', '--relay-port', '0'], 'Press Ctrl+C to stop.');
    try {
      expect(started.out).toContain('Press Ctrl+C to stop.');
      const envUrl = /Environment\s+(\S+)/.exec(started.out)![1]!;
      expect((await fetch(`${envUrl}/healthz`)).status).toBe(200);
      if (existsSync(join(repoRoot, 'dist/web/index.html'))) {
        const page = await fetch(`${envUrl}/settings/connections`);
        expect(page.status).toBe(200);
        expect(await page.text()).toContain('<div id="root">');
      }
    } finally {
      await started.stop();
    }
  });

  it('maps stack traces back to the TypeScript sources', () => {
    const map = JSON.parse(readFileSync(join(scratch, 'dist/server/main.js.map'), 'utf8')) as { sources: string[] };
    expect(map.sources.some((s) => s.endsWith('server/cli/main.ts'))).toBe(true);
  });
});
