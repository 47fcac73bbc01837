// Fuzzed command-line arguments (issue 7): malformed, oversized, unicode and control-character
// arguments to the real `gatehouse` binary. Each ends with a usage (2), failure (1) or not-found (3)
// exit and one short, clean line on stderr (`gatehouse: …`, or commander's `error: …` plus the
// help hint), never a stack trace or a raw terminal escape, and the data directory's database is
// byte-for-byte the same rows afterwards. ~20 child processes (0.5–1.5 s each), three at a time.
import Database from 'better-sqlite3';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { envDatabaseFile, startEnvironment } from '../env/env-app';
import { setSecurityMode } from '../env/connect/security-mode.service';
import { dumpTables } from '../testing/http-probe';
import { runCli, seedClient, thumbprintWith, type CliResult } from './commands/cli-testing';

let dir: string;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gatehouse-cli-fuzz-'));
  const env = await startEnvironment({ dataDir: dir, port: 0 });
  setSecurityMode(env.deps, 'client-approval', 'api');
  seedClient(env.deps, thumbprintWith('FuzzKnownClient'), { label: 'Known', os: 'Linux', deviceType: 'desktop' });
  await env.close();
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function dump() {
  const db = new Database(envDatabaseFile(dir), { readonly: true });
  try {
    return dumpTables(db);
  } finally {
    db.close();
  }
}
const files = () => readdirSync(dir).filter((name) => !/-(wal|shm|journal)$/.test(name)).sort();

const BIG = 'A'.repeat(100_000);
const BIG_UNICODE = `${'🙂'.repeat(25_000)}\u202e`; // 100 KB of UTF-8, then a bidi override
const CONTROL = 'abc\u0001\u0007\u001b[2Jdefgh\nsecond';

const cases: Array<[what: string, args: string[], codes: number[]]> = [
  ['port above 65535', ['start', '--env-port', '99999'], [2]],
  ['negative port', ['start', '--relay-port', '-1'], [2]],
  ['port 65536', ['env', 'start', '--port', '65536'], [2]],
  ['port in exponent form', ['relay', 'start', '--port', '1e3'], [2]],
  ['javascript: public URL', ['env', 'start', '--public-url', 'javascript:alert(1)'], [2]],
  ['public URL with credentials, query and fragment', ['env', 'start', '--public-url', 'http://user:pw@127.0.0.1:1/?q=1#f'], [2]],
  ['non-PostgreSQL database URL', ['relay', 'start', '--database-url', 'mysql://root@localhost/x'], [2]],
  ['account issuer without audience', ['relay', 'start', '--account-issuer', 'https://issuer.example'], [2]],
  ['relay URL with a terminal escape', ['connect', 'link', '--relay', '\u001b[31mnot a url', '--account', 'x'], [2]],
  // Neither: the stored sign-in is used; there is none (and no terminal), so it says to run `gatehouse login`.
  ['link with neither account nor token, not signed in', ['connect', 'link', '--relay', 'http://127.0.0.1:1'], [1]],
  ['unknown mode', ['connect', 'security', '--mode', 'wide-open'], [2]],
  ['100 KB thumbprint', ['connect', 'security', 'approve', BIG], [2]],
  ['100 KB unicode thumbprint', ['connect', 'security', 'reject', BIG_UNICODE], [2]],
  ['control characters in a thumbprint', ['connect', 'security', 'revoke', CONTROL], [2]],
  ['a prefix that matches nobody', ['connect', 'security', 'approve', 'NoSuchClientPrefix'], [3]],
  ['unknown flag', ['connect', 'security', 'clients', '--frobnicate'], [2]],
  ['--watch with no running environment', ['connect', 'security', 'clients', '--watch'], [1]],
  ['missing required option', ['client', 'connect'], [2]],
  ['unicode environment id and an ftp relay', ['client', 'connect', '--environment', 'é🙂\u202e', '--relay', 'ftp://relay.example'], [2]],
  ['unknown command with an escape', ['\u001b[2Jnonsense'], [2]],
  ['extra argument', ['owner', 'login-url', BIG], [2]],
];

/** One short clean line (commander adds its help hint), no stack, no terminal controls. */
function expectCleanFailure(what: string, result: CliResult, codes: number[]) {
  const shown = `${what}: exit ${result.code}, stderr ${JSON.stringify(result.stderr.slice(0, 400))}`;
  expect(codes, shown).toContain(result.code);
  expect(result.stdout, shown).toBe('');
  expect(result.stderr, shown).toMatch(/^(gatehouse: [^\n]+\n|error: [^\n]+\n\(run with --help for usage\)\n)$/);
  expect([...result.stderr].length, shown).toBeLessThan(1000);
  expect(result.stderr, shown).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/);
  expect(result.stderr, shown).not.toMatch(/^\s+at |\.ts:\d+|node_modules|Error:/m);
}

describe('gatehouse with fuzzed arguments', () => {
  it('every malformed, oversized, unicode or control-character argument → exit 1/2/3 with one clean line; the database is unchanged', { timeout: 180_000 }, async () => {
    const before = { rows: dump(), files: files() };
    const results: CliResult[] = [];
    for (let i = 0; i < cases.length; i += 3) {
      results.push(...(await Promise.all(cases.slice(i, i + 3).map(([, args]) => runCli([...args, '--data-dir', dir])))));
    }
    cases.forEach(([what, , codes], i) => expectCleanFailure(what, results[i]!, codes));
    // The long argument is cut in the middle, not echoed in full.
    expect(results[11]!.stderr).toMatch(/^gatehouse: "A+…A+" is not a thumbprint: /);
    expect({ rows: dump(), files: files() }).toEqual(before);
  });
});
