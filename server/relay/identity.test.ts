// SPEC §12: instances on one database share one key and one public URL; one that differs refuses to start.
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../testing/postgres';
import { startRelay, type RelayRuntime } from './relay-app';

let database: TestDatabase;
let first: RelayRuntime;
let dir: string;
const publicUrl = 'http://localhost:4200';
const start = (name: string, over: { publicUrl?: string } = {}) => startRelay({ dataDir: join(dir, name), port: 0, devIssuer: true, publicUrl, databaseUrl: database.url, ...over });

beforeAll(async () => {
  database = await createTestDatabase('relay_identity');
  dir = mkdtempSync(join(tmpdir(), 'gatehouse-relay-identity-'));
  first = await start('first');
});

afterAll(async () => {
  await first?.close();
  await database?.drop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('one key and one public URL for every instance on a database', () => {
  it('an instance with its own new key refuses to start, naming the file to copy', async () => {
    const error = await start('stranger').catch((e: Error) => e);
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toContain(join(dir, 'stranger', 'relay-key.json'));
    expect((error as Error).message).toContain('<data-dir>/relay/relay-key.json');
  });

  it('an instance with the key but another public URL refuses to start, naming the flag and the URL', async () => {
    mkdirSync(join(dir, 'moved'), { recursive: true, mode: 0o700 });
    copyFileSync(join(dir, 'first', 'relay-key.json'), join(dir, 'moved', 'relay-key.json'));
    const error = await start('moved', { publicUrl: 'http://elsewhere.test:4200' }).catch((e: Error) => e);
    expect((error as Error).message).toMatch(/--public-url http:\/\/localhost:4200/);
  });

  it('an instance with the copied key and the same public URL starts, and so does the first one again', async () => {
    mkdirSync(join(dir, 'twin'), { recursive: true, mode: 0o700 });
    copyFileSync(join(dir, 'first', 'relay-key.json'), join(dir, 'twin', 'relay-key.json'));
    const twin = await start('twin');
    expect(twin.deps.signingKey.publicJwk.x).toBe(first.deps.signingKey.publicJwk.x);
    await twin.close();
    await first.close();
    first = await start('first');
  });
});
