// S56: text a client supplies (label, OS, device id) loses every Unicode control and format character
// in the shared contract, so no device can pose as another; the env normalizes again what a relay
// signs, and the owner API, the CLI and `--json` all show the one normalized string.
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClientInfo, ConnectInput, LABEL_MAX, normalizeClientText } from '../../../shared/contracts';
import { runCli } from '../../cli/commands/cli-testing';
import { writeRuntimeInfo } from '../../cli/runtime-file';
import { MINT_REQUEST_TYP, signMintJws } from '../../mint/mint-protocol';
import { ownerCall, postMint, signedMintRequest } from '../../testing/http-probe';
import { startStack, type Stack } from '../../testing/stack';

const TROJAN = 'Owner \u202Eenohp-s’nalA\u202C laptop';
const SHOWN = 'Owner enohp-s’nalA laptop';

/** Cc and Cf code points an attacker reaches for, a sample of each block, plus separators. */
const INVISIBLES = [
  ...Array.from({ length: 0x20 }, (_, i) => i), 0x7f, ...Array.from({ length: 0x20 }, (_, i) => 0x80 + i), // C0, DEL, C1
  0xad, 0x61c, 0x180e, 0x200b, 0x200c, 0x200d, 0x200e, 0x200f, // soft hyphen, ALM, MVS, zero-width, LRM/RLM
  0x202a, 0x202b, 0x202c, 0x202d, 0x202e, 0x2060, 0x2061, 0x2064, 0x2066, 0x2067, 0x2068, 0x2069, // embeddings, overrides, isolates
  0x2028, 0x2029, 0xfeff, 0xfff9, 0xfffb, 0x110bd, 0xe0001, 0xe0041, 0xe007f, // separators, BOM, annotations, tags
].map((cp) => String.fromCodePoint(cp));

describe('S56 the shared contract', () => {
  it('S56 strips bidi overrides, isolates, zero-width, C0/C1 controls, tags and separators from label, OS and device id', () => {
    expect(ClientInfo.parse({ label: TROJAN }).label).toBe(SHOWN);
    const dirty = `a${INVISIBLES.join('b')}z`;
    const clean = `a${'b'.repeat(INVISIBLES.length - 1)}z`;
    const parsed = ClientInfo.parse({ label: dirty.slice(0, 300), os: `Linux${INVISIBLES.join('')}` });
    expect(parsed.os).toBe('Linux');
    expect(parsed.label).toBe(clean.slice(0, LABEL_MAX));
    for (const ch of INVISIBLES) expect(parsed.label!.includes(ch), `U+${ch.codePointAt(0)!.toString(16)}`).toBe(false);
    const input = ConnectInput.parse({ environmentId: 'env_x', clientProofKeyThumbprint: 'A'.repeat(43), deviceId: `\u2066dev-1\u2069\u200b`, client: { label: '\u202e\u200b' } });
    expect(input.deviceId).toBe('dev-1');
    expect(input.client?.label).toBeUndefined(); // nothing visible left: no label at all
  });

  it('S56 caps at the limit without leaving half a surrogate pair, keeps real text (emoji, RTL letters), refuses oversized input', () => {
    const atCut = `${'x'.repeat(LABEL_MAX - 1)}😀tail`;
    const capped = normalizeClientText(atCut, LABEL_MAX);
    expect(capped).toBe('x'.repeat(LABEL_MAX - 1));
    expect(/[\uD800-\uDFFF]/.test(capped)).toBe(false);
    expect(normalizeClientText('  שלום 😀 Pixel  ', LABEL_MAX)).toBe('שלום 😀 Pixel');
    expect(ClientInfo.safeParse({ label: 'x'.repeat(LABEL_MAX * 4 + 1) }).success).toBe(false);
    expect(normalizeClientText('\ud800lone', 10)).toBe('lone');
    // Idempotent: the normal form of a normal form is itself.
    for (const text of [TROJAN, atCut, INVISIBLES.join('x')]) expect(normalizeClientText(normalizeClientText(text, 80), 80)).toBe(normalizeClientText(text, 80));
  });
});

describe('S56 every surface shows the same string', () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack();
    writeRuntimeInfo(stack.env.dataDir, { pid: process.pid, url: stack.env.publicUrl, environmentId: stack.env.environmentId });
    await ownerCall(stack, 'connect.securityMode.set', { mode: 'client-approval' });
  });
  afterAll(() => stack.close());

  it('S56 a label through the relay, and one a relay signed raw, are stored, listed, printed and --json-printed normalized', { timeout: 60_000 }, async () => {
    const viaRelay = await stack.newSigner();
    await expect(stack.connect(viaRelay, { wait: false, client: { label: TROJAN, os: 'Android\u200d 15', deviceType: 'mobile' }, deviceId: '\u202ephone' })).rejects.toMatchObject({ approvalStatus: 'pending' });

    // A relay that let the raw text through: the env normalizes what it verified.
    const rawRelay = await stack.newSigner();
    const claims = decodeJwt(await signedMintRequest(stack, rawRelay.thumbprint));
    const raw = await signMintJws(stack.relay.deps.signingKey.privateKey, MINT_REQUEST_TYP, { ...claims, client: { label: `Desk\u2066 \u202eCP\u2069`, os: 'Win\u0085dows' }, deviceId: 'd\u200b1' });
    expect((await postMint(stack, raw)).body?.status).toBe('pending_approval');

    const listed = (await stack.owner.connect.clients.list.query()).items as Array<{ clientProofKeyThumbprint: string; deviceId: string | null; client: { label: string | null; os: string | null } }>;
    const rowOf = (t: string) => listed.find((c) => c.clientProofKeyThumbprint === t)!;
    expect(rowOf(viaRelay.thumbprint)).toMatchObject({ deviceId: 'phone', client: { label: SHOWN, os: 'Android 15' } });
    expect(rowOf(rawRelay.thumbprint)).toMatchObject({ deviceId: 'd1', client: { label: 'Desk CP', os: 'Windows' } });

    const args = ['connect', 'security', 'clients', '--data-dir', stack.env.dataDir];
    const [human, json] = await Promise.all([runCli(args), runCli([...args, '--json'])]);
    expect(human.code).toBe(0);
    const humanLine = human.stdout.split('\n').find((l) => l.startsWith(viaRelay.thumbprint))!;
    expect(humanLine).toContain(SHOWN);
    expect(humanLine).toContain('Android 15');
    expect(human.stdout).not.toContain('?'); // nothing was left for the terminal filter to replace
    const fromJson = (JSON.parse(json.stdout) as { clients: Array<{ clientProofKeyThumbprint: string; client: { label: string } }> }).clients;
    expect(fromJson.find((c) => c.clientProofKeyThumbprint === viaRelay.thumbprint)?.client.label).toBe(SHOWN);
    expect(fromJson.find((c) => c.clientProofKeyThumbprint === rawRelay.thumbprint)?.client.label).toBe('Desk CP');
    // No byte of a Cc/Cf character is stored anywhere in the clients table.
    const stored = stack.env.deps.db.$client.prepare('SELECT label, os, device_id FROM connect_clients').all() as Array<Record<string, string | null>>;
    for (const row of stored) for (const value of Object.values(row)) expect(/[\p{Cc}\p{Cf}]/u.test(value ?? '')).toBe(false);
  });
});
