// Test wiring: a real in-memory SQLite with the real migrations, a manual clock, a real bus.
import { manualClock } from '../common/clock';
import { openMemoryEnvDatabase } from './db/database';
import type { EnvDeps } from './deps';
import { AccessBus } from './events/access-bus';
import { OWNER_SCOPES } from './owner/owner-auth.service';
import type { EnvContext } from './trpc/init';
import { DomainError } from '../common/errors';
import { exportJWK, generateKeyPair, type JWK } from 'jose';
import { createMintService } from './connect/mint.service';
import { signMintRequest } from '../mint/mint-protocol';
import { saveRelayLink } from './link/link.service';

export function createTestDeps(start?: number) {
  const clock = manualClock(start);
  const deps: EnvDeps = { db: openMemoryEnvDatabase(), bus: new AccessBus(), clock };
  return { deps, clock };
}

/** A deterministic valid-looking thumbprint for registry tests (43 base64url chars). */
export const fakeThumbprint = (n: number): string => `tp${String(n).padStart(6, '0')}`.padEnd(43, 'A');

export function ownerContext(deps: EnvDeps, over: Partial<EnvContext> = {}): EnvContext {
  return {
    deps,
    environmentId: 'env_test',
    owner: { scopes: OWNER_SCOPES, via: 'admin-token' },
    ownerKey: 'admin-token',
    actor: 'api',
    crossSiteCookie: false,
    authenticateClient: async () => {
      throw new DomainError('unauthorized', 'invalid_token', 'no client session in this test');
    },
    ...over,
  };
}

export interface RelayTestKey {
  privateKey: CryptoKey;
  publicJwk: JWK;
}

/** A relay key pair for tests that sign mint requests in memory. */
export async function createRelayTestKey(): Promise<RelayTestKey> {
  const pair = await generateKeyPair('EdDSA', { extractable: true });
  return { privateKey: pair.privateKey, publicJwk: await exportJWK(pair.publicKey) };
}

/** An in-memory environment linked to a test relay for `accountId`, with its mint service. */
export function createLinkedMintEnv(relayKey: RelayTestKey, opts: { relayIssuer: string; environmentId: string; accountId: string; maxWaiters?: number }) {
  const { deps, clock } = createTestDeps();
  saveRelayLink(deps, { relayUrl: opts.relayIssuer, relayIssuer: opts.relayIssuer, relayPublicKey: relayKey.publicJwk, accountId: opts.accountId, routedEndpoint: null, deviceOrigin: null });
  const mint = createMintService({ deps, environmentId: opts.environmentId, signingKey: relayKey.privateKey, ...(opts.maxWaiters !== undefined && { maxWaiters: opts.maxWaiters }) });
  /** A mint request from the test relay, signed now on the test clock. */
  const sign = async (thumbprint: string, over: Partial<Parameters<typeof signMintRequest>[1]> = {}) =>
    (await signMintRequest(relayKey.privateKey, { relayIssuer: opts.relayIssuer, environmentId: opts.environmentId, accountId: opts.accountId, clientProofKeyThumbprint: thumbprint, now: clock.now(), ...over })).token;
  return { deps, clock, mint, sign };
}
