// Who opens a store closes it: the relay closes the store it opened, never one it was given.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startRelay } from './relay-app';
import { openSqliteRelayStore } from './sqlite-store';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'gatehouse-relay-app-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('startRelay close()', () => {
  it('leaves a store the caller passed in open', async () => {
    const store = openSqliteRelayStore(join(dir, 'shared.sqlite'));
    const relay = await startRelay({ dataDir: join(dir, 'relay'), port: 0, devIssuer: true, store });
    await relay.close();
    expect(await store.consumeMarker('dpop', 'after-close', Date.now() + 60_000)).toBe(true);
    await store.close();
  });

  it('closes the store it opened itself', async () => {
    const relay = await startRelay({ dataDir: join(dir, 'relay'), port: 0, devIssuer: true });
    await relay.close();
    await expect(relay.deps.store.consumeMarker('dpop', 'after-close', Date.now() + 60_000)).rejects.toThrow();
  });
});
