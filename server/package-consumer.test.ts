// A third party's project: `npm pack` the repo, install the tarball outside it (unpacked into the
// consumer's node_modules, its dependencies linked from ours: no network), type-check with both
// moduleResolution "bundler" and "NodeNext" (and a deliberate type error must fail), then run a
// program through gatehouse/client and gatehouse/owner against a live environment.
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildLibrary } from '../scripts/build-server';
import { buildTypes } from '../scripts/build-types';
import { startStack, type Stack } from './testing/stack';

const run = promisify(execFile);
const repo = fileURLToPath(new URL('..', import.meta.url));
const tsc = join(repo, 'node_modules/.bin/tsc');

const consumerTs = `
import { connectToEnvironment, createDpopSigner, createEnvClient, generateDpopKeyPair, ConnectionBlockedError, type EnvRouter } from 'gatehouse/client';
import { createOwnerClient } from 'gatehouse/owner';

const owner = createOwnerClient(process.env.ENV_URL!, process.env.ADMIN_TOKEN!);
const { mode } = await owner.connect.securityMode.get.query();
const checked: 'account' | 'client-approval' = mode;
const signer = await createDpopSigner(await generateDpopKeyPair(false));
const session = await connectToEnvironment({ relayUrl: process.env.RELAY_URL!, environmentId: process.env.ENV_ID!, signer, getIdToken: async () => process.env.ID_TOKEN! });
const env = createEnvClient<EnvRouter>(session, signer);
const me = await env.client.whoami.query();
const thumbprint: string = me.clientProofKeyThumbprint;
console.log(JSON.stringify({ mode: checked, thumbprint, blocked: ConnectionBlockedError.name }));
`;

// Each line is wrong only if the consumer sees the real procedure types (an \`any\` would pass them all).
const wrongTs = `
import { createOwnerClient } from 'gatehouse/owner';
import { createEnvClient, type EnvRouter, type EnvSession, type DpopSigner } from 'gatehouse/client';
const owner = createOwnerClient('http://127.0.0.1:1', 'token');
const mode: number = (await owner.connect.securityMode.get.query()).mode;
await owner.connect.securityMode.set.mutate({ mode: 'open-to-all' });
declare const session: EnvSession;
declare const signer: DpopSigner;
const n: number = (await createEnvClient<EnvRouter>(session, signer).client.whoami.query()).clientProofKeyThumbprint;
export { mode, n };
`;

const tsconfig = (resolution: 'bundler' | 'NodeNext', files: string[]) =>
  JSON.stringify({
    compilerOptions: { target: 'ES2022', module: resolution === 'bundler' ? 'ESNext' : 'NodeNext', moduleResolution: resolution, strict: true, noEmit: true, skipLibCheck: true, lib: ['ES2023', 'DOM'], types: ['node'] },
    files,
  });

let dir: string;
let consumer: string;
let stack: Stack;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gatehouse-consumer-'));
  consumer = join(dir, 'consumer');
  const [, stackReady] = await Promise.all([
    (async () => {
      // The published JS and declarations, fresh from the sources (what `npm run build` makes).
      await buildLibrary(join(repo, 'dist'));
      buildTypes();
      const { stdout } = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dir], { cwd: repo });
      const [{ filename }] = JSON.parse(stdout) as [{ filename: string }];
      mkdirSync(join(consumer, 'node_modules'), { recursive: true });
      await run('tar', ['-xzf', join(dir, filename), '-C', dir]);
      renameSync(join(dir, 'package'), join(consumer, 'node_modules/gatehouse'));
      // The tarball's dependencies, linked from the repo's installed tree instead of fetched.
      for (const name of readdirSync(join(repo, 'node_modules'))) {
        if (name === 'gatehouse' || name.startsWith('.')) continue;
        symlinkSync(join(repo, 'node_modules', name), join(consumer, 'node_modules', name));
      }
      writeFileSync(join(consumer, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
      writeFileSync(join(consumer, 'main.ts'), consumerTs);
      writeFileSync(join(consumer, 'wrong.ts'), wrongTs);
      writeFileSync(join(consumer, 'tsconfig.bundler.json'), tsconfig('bundler', ['main.ts']));
      writeFileSync(join(consumer, 'tsconfig.nodenext.json'), tsconfig('NodeNext', ['main.ts']));
      writeFileSync(join(consumer, 'tsconfig.wrong.json'), tsconfig('NodeNext', ['wrong.ts']));
      writeFileSync(join(consumer, 'tsconfig.wrong-bundler.json'), tsconfig('bundler', ['wrong.ts']));
    })(),
    startStack(),
  ]);
  stack = stackReady;
}, 180_000);

afterAll(async () => {
  await stack?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('the packed package in a project outside the repo', () => {
  it('type-checks under moduleResolution bundler and NodeNext', async () => {
    for (const config of ['tsconfig.bundler.json', 'tsconfig.nodenext.json']) {
      const result = await run(tsc, ['-p', config], { cwd: consumer }).then(
        () => 'ok',
        (error: { stdout?: string }) => error.stdout ?? String(error),
      );
      expect(result, config).toBe('ok');
    }
  }, 120_000);

  it('a deliberate type error against the real procedure types fails tsc, under both resolutions', async () => {
    for (const config of ['tsconfig.wrong.json', 'tsconfig.wrong-bundler.json']) {
      const failure = await run(tsc, ['-p', config], { cwd: consumer }).then(
        () => null,
        (error: { stdout?: string }) => error.stdout ?? '',
      );
      expect(failure, config).not.toBeNull();
      expect(failure).toMatch(/wrong\.ts\(5,7\).*Type 'string' is not assignable to type 'number'/);
      expect(failure).toMatch(/wrong\.ts\(6,\d+\).*Type '"open-to-all"' is not assignable to type '"account" \| "client-approval"'/);
      expect(failure).toMatch(/wrong\.ts\(9,7\).*Type 'string' is not assignable to type 'number'/);
    }
  }, 120_000);

  it('runs on Node against a live environment through both entry points', async () => {
    await stack.owner.connect.securityMode.set.mutate({ mode: 'account' });
    // Node runs the consumer's program with its types stripped: the same code that was type-checked.
    const js = (await import('esbuild')).transformSync(consumerTs, { loader: 'ts', format: 'esm' }).code;
    writeFileSync(join(consumer, 'main.mjs'), js);
    const { stdout } = await run(process.execPath, ['main.mjs'], {
      cwd: consumer,
      env: { ...process.env, ENV_URL: stack.env.publicUrl, ADMIN_TOKEN: stack.env.adminToken, RELAY_URL: stack.relay.publicUrl, ENV_ID: stack.env.environmentId, ID_TOKEN: await stack.idToken() },
    });
    const out = JSON.parse(stdout.trim()) as { mode: string; thumbprint: string; blocked: string };
    expect(out).toMatchObject({ mode: 'account', blocked: 'ConnectionBlockedError' });
    expect(out.thumbprint).toMatch(/^[A-Za-z0-9_-]{43}$/);
  }, 60_000);

  it('packs what the bin and the entry points need, and no sources', async () => {
    const { stdout } = await run('npm', ['pack', '--ignore-scripts', '--dry-run', '--json'], { cwd: repo });
    const files = (JSON.parse(stdout) as [{ files: { path: string }[] }])[0].files.map((f) => f.path);
    expect(files).toEqual(expect.arrayContaining(['bin/gatehouse.js', 'package.json', 'dist/client/index.js', 'dist/owner/index.js', 'dist/types/shared/client/index.d.ts', 'dist/types/server/env/owner/index.d.ts']));
    expect(files.some((f) => f.startsWith('drizzle/env/'))).toBe(true);
    expect(files.filter((f) => /^(server|shared|web|e2e|bench|scripts)\//.test(f) || f.endsWith('.test.ts'))).toEqual([]);
  }, 60_000);
});
