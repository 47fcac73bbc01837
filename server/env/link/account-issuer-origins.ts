// The origins the /device page must reach to sign in (SPEC §15): the account issuer the linked relay
// names (discovery) and its token endpoint. They join the page's CSP `connect-src`, nothing wider.
const TIMEOUT_MS = 5_000;
const MAX_BYTES = 64 * 1024;

async function readJson(url: string, fetchImpl: typeof fetch): Promise<Record<string, unknown>> {
  const res = await fetchImpl(url, { headers: { accept: 'application/json' }, redirect: 'error', signal: AbortSignal.timeout(TIMEOUT_MS) });
  const text = await res.text();
  if (!res.ok || text.length > MAX_BYTES) throw new Error(`${url} answered HTTP ${res.status}`);
  const body = JSON.parse(text) as unknown;
  if (!body || typeof body !== 'object' || Array.isArray(body)) throw new Error(`${url} is not a JSON object`);
  return body as Record<string, unknown>;
}

function webOrigin(value: unknown): string | null {
  if (typeof value !== 'string') return null;
  try {
    const url = new URL(value);
    return url.protocol === 'https:' || url.protocol === 'http:' ? url.origin : null;
  } catch {
    return null;
  }
}

/** The issuer's origin and its token endpoint's, as the relay at `relayUrl` names them; throws when unreadable. */
export async function accountIssuerOrigins(relayUrl: string, fetchImpl: typeof fetch = fetch): Promise<string[]> {
  const config = await readJson(`${relayUrl.replace(/\/+$/, '')}/.well-known/gatehouse-configuration`, fetchImpl);
  const issuer = typeof config.accountIssuer === 'string' ? config.accountIssuer.replace(/\/+$/, '') : '';
  const issuerOrigin = webOrigin(issuer);
  if (!issuerOrigin) throw new Error('the relay named no account issuer');
  const discovery = await readJson(`${issuer}/.well-known/openid-configuration`, fetchImpl);
  const tokenOrigin = webOrigin(discovery.token_endpoint);
  return [...new Set([issuerOrigin, ...(tokenOrigin ? [tokenOrigin] : [])])];
}
