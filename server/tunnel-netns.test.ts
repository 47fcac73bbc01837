// An environment the relay cannot dial (SPEC §11): the environment runs in a network namespace of
// its own, listening only on that namespace's loopback, behind a veth link — like a laptop behind
// NAT. The whole flow works through the relay alone. Needs root and iproute2 (CI has both); on a
// machine without them this file says so and runs nothing.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { connectToEnvironment, fetchWhoAmI } from '../shared/client/connect';
import { createDpopSigner, generateDpopKeyPair } from '../shared/dpop';
import { startRelay, type RelayRuntime } from './relay/relay-app';
import { startBlackholeProxy } from './testing/blackhole-proxy';

function canMakeNamespaces(): boolean {
  if (process.getuid?.() !== 0) return false;
  try {
    execFileSync('ip', ['netns', 'list'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const available = canMakeNamespaces();
if (!available) console.warn('[tunnel-netns.test] not root or no iproute2: the network-namespace test does not run here (CI runs it).');

// One /30 of the test network per run, so parallel runs on one machine do not collide.
const n = 1 + (process.pid % 250);
const ns = `gh-env-${process.pid}`;
const hostIf = `ghh${process.pid % 100000}`;
const envIf = `ghe${process.pid % 100000}`;
const hostAddr = `10.231.${n}.1`;
const envAddr = `10.231.${n}.2`;
const ip = (...args: string[]) => execFileSync('ip', args, { stdio: 'pipe' });

describe.runIf(available)('an environment behind its own network namespace', () => {
  let dir: string;
  let relay: RelayRuntime;
  let child: ChildProcess;
  let front: Awaited<ReturnType<typeof startBlackholeProxy>>;
  let out = '';

  beforeAll(async () => {
    ip('netns', 'add', ns);
    ip('link', 'add', hostIf, 'type', 'veth', 'peer', 'name', envIf);
    ip('link', 'set', envIf, 'netns', ns);
    ip('addr', 'add', `${hostAddr}/30`, 'dev', hostIf);
    ip('link', 'set', hostIf, 'up');
    ip('netns', 'exec', ns, 'ip', 'addr', 'add', `${envAddr}/30`, 'dev', envIf);
    ip('netns', 'exec', ns, 'ip', 'link', 'set', envIf, 'up');
    ip('netns', 'exec', ns, 'ip', 'link', 'set', 'lo', 'up');
    dir = mkdtempSync(join(tmpdir(), 'gatehouse-netns-'));
    // The relay listens on loopback; a plain TCP forwarder on the test network's host side is the
    // only way in from the namespace, as a load balancer in front of a relay would be.
    relay = await startRelay({ dataDir: join(dir, 'relay'), port: 0, devIssuer: true });
    front = await startBlackholeProxy((relay.server.address() as AddressInfo).port, hostAddr);
    const bin = join(import.meta.dirname, '../bin/gatehouse-dev.js');
    // The dev issuer answers loopback callers only: the environment links with an ID token, as it would with a real provider.
    const idToken = await relay.devIssuer!.issueIdToken('owner');
    child = spawn('ip', ['netns', 'exec', ns, process.execPath, bin, 'env', 'start', '--port', '4100', '--data-dir', join(dir, 'env'), '--relay', front.url, '--id-token', idToken], { stdio: 'pipe' });
    child.stdout!.on('data', (c) => (out += c));
    child.stderr!.on('data', (c) => (out += c));
    await vi.waitFor(() => expect(out).toMatch(/tunnel: connected to /), { timeout: 30_000, interval: 50 });
  }, 60_000);

  afterAll(async () => {
    if (child && child.exitCode === null) {
      const closed = new Promise((r) => child.once('close', r));
      child.kill('SIGTERM');
      await closed;
    }
    await relay?.close();
    await front?.close();
    try {
      ip('netns', 'del', ns);
    } catch {
      // already gone
    }
    try {
      ip('link', 'del', hostIf);
    } catch {
      // went with the namespace
    }
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('the relay cannot dial the environment, yet a client connects and calls it through the relay', async () => {
    const environmentId = /\(id (env_[a-z2-7]{26})\)/.exec(out)![1]!;
    // Nothing answers at the environment's address: it listens on its own loopback only.
    await expect(fetch(`http://${envAddr}:4100/healthz`, { signal: AbortSignal.timeout(2000) })).rejects.toThrow();
    const link = await relay.deps.store.getLink(environmentId);
    expect(link?.endpoint).toBeNull();

    const signer = await createDpopSigner(await generateDpopKeyPair(false));
    const session = await connectToEnvironment({ relayUrl: relay.publicUrl, environmentId, signer, getIdToken: () => relay.devIssuer!.issueIdToken('owner') });
    expect(session.endpoint).toBe(`${relay.publicUrl}/e/${environmentId}`);
    expect(await fetchWhoAmI(session, signer)).toMatchObject({ environmentId, clientProofKeyThumbprint: signer.thumbprint });
  });
});
