// The /device page's account sign-in (SPEC §15): authorization code + PKCE with `oauth4webapi`
// against whichever OpenID provider the relay names in /.well-known/gatehouse-configuration.
//
// The provider sends the browser back to one fixed URI at the relay (`/sign-in/callback`), which hands
// code and state on, in the fragment, to the device page whose origin `state` names, and only when
// that origin is one the relay serves. The page then checks state, exchanges the code with its PKCE
// verifier and validates the ID token (issuer, audience, nonce, expiry) before it uses it.
import * as oauth from 'oauth4webapi';
import type { InviteSecret } from '../../../shared/invite';

/** The relay route the provider returns to (registered at the provider as the redirect URI). */
export const SIGN_IN_CALLBACK_PATH = '/sign-in/callback';
const PENDING_KEY = 'gatehouse.sign-in.pending';
const ACCOUNT_KEY = 'gatehouse.sign-in.account';
/** After Sign out, the next sign-in asks the provider to show its login page again (`prompt=login`). */
const SIGNED_OUT_KEY = 'gatehouse.sign-in.signed-out';
/** An ID token this close to its expiry is not sent: the relay would likely refuse it on arrival. */
const EXPIRY_MARGIN_SECONDS = 30;
const RETURN_PARAMS = ['code', 'state', 'iss', 'error', 'error_description'];

export interface SignedInAccount {
  issuer: string;
  clientId: string;
  subject: string;
  /** What to show: the ID token's `name`, else `preferred_username`, else `sub`. */
  name: string;
  idToken: string;
  /** Seconds since the epoch. */
  expiresAt: number;
}

/** Kept in sessionStorage (this tab, this origin) between leaving for the provider and coming back. */
interface PendingSignIn {
  state: string;
  nonce: string;
  codeVerifier: string;
  issuer: string;
  clientId: string;
  redirectUri: string;
  /** Connect right after coming back (the person pressed Connect). */
  thenConnect: boolean;
  /** An invite the page was opened with: the round trip through the provider would lose it. */
  invite?: InviteSecret;
}

export class SignInError extends Error {
  override name = 'SignInError';
}

/** The refresh token stays in memory only: a reload signs in again through the provider. */
let refreshToken: string | null = null;

function base64url(text: string): string {
  return btoa(text).replaceAll('+', '-').replaceAll('/', '_').replace(/=+$/, '');
}

function isLoopbackHost(hostname: string): boolean {
  return hostname === 'localhost' || hostname.endsWith('.localhost') || hostname === '[::1]' || /^127(\.\d{1,3}){3}$/.test(hostname);
}

/** oauth4webapi refuses http; allowed for a provider on this machine (the embedded dev issuer) only. */
function insecureOption(url: string): { [oauth.allowInsecureRequests]?: true } {
  const parsed = new URL(url);
  return parsed.protocol === 'http:' && isLoopbackHost(parsed.hostname) ? { [oauth.allowInsecureRequests]: true } : {};
}

async function signInConfig(relayUrl: string): Promise<{ accountIssuer: string; clientId: string }> {
  let res: Response;
  try {
    res = await fetch(`${relayUrl}/.well-known/gatehouse-configuration`, { headers: { accept: 'application/json' } });
  } catch {
    throw new SignInError(`The relay at ${relayUrl} could not be reached to find where to sign in.`);
  }
  const body = (await res.json().catch(() => ({}))) as { accountIssuer?: unknown; clientId?: unknown; message?: unknown };
  if (!res.ok || typeof body.accountIssuer !== 'string' || typeof body.clientId !== 'string') {
    throw new SignInError(typeof body.message === 'string' ? body.message : `The relay did not say where to sign in (HTTP ${res.status}).`);
  }
  return { accountIssuer: body.accountIssuer, clientId: body.clientId };
}

async function discover(issuer: string): Promise<oauth.AuthorizationServer> {
  const issuerUrl = new URL(issuer);
  try {
    return await oauth.processDiscoveryResponse(issuerUrl, await oauth.discoveryRequest(issuerUrl, insecureOption(issuer)));
  } catch (error) {
    throw new SignInError(`The account provider ${issuer} could not be discovered: ${(error as Error).message}`);
  }
}

function readJson<T>(storage: Storage, key: string): T | null {
  try {
    const raw = storage.getItem(key);
    return raw === null ? null : (JSON.parse(raw) as T);
  } catch {
    return null;
  }
}

function accountOf(issuer: string, clientId: string, idToken: string, claims: oauth.IDToken): SignedInAccount {
  const shown = [claims.name, claims.preferred_username, claims.sub].find((v): v is string => typeof v === 'string' && v.length > 0)!;
  return { issuer, clientId, subject: claims.sub, name: shown, idToken, expiresAt: claims.exp };
}

/** Leaves for the provider's authorization endpoint; resolves only if the browser does not navigate. */
export async function beginSignIn(relayUrl: string, opts: { thenConnect: boolean; invite?: InviteSecret }): Promise<void> {
  const { accountIssuer, clientId } = await signInConfig(relayUrl);
  const as = await discover(accountIssuer);
  if (!as.authorization_endpoint) throw new SignInError(`The account provider ${accountIssuer} has no authorization endpoint.`);
  const codeVerifier = oauth.generateRandomCodeVerifier();
  // The nonce part is this sign-in's secret; the origin part tells the relay's callback where to hand on.
  const state = `${oauth.generateRandomState()}.${base64url(location.origin)}`;
  const nonce = oauth.generateRandomNonce();
  const redirectUri = `${relayUrl}${SIGN_IN_CALLBACK_PATH}`;
  const pending: PendingSignIn = { state, nonce, codeVerifier, issuer: accountIssuer, clientId, redirectUri, thenConnect: opts.thenConnect, ...(opts.invite && { invite: opts.invite }) };
  sessionStorage.setItem(PENDING_KEY, JSON.stringify(pending));
  const url = new URL(as.authorization_endpoint);
  url.searchParams.set('client_id', clientId);
  url.searchParams.set('response_type', 'code');
  url.searchParams.set('redirect_uri', redirectUri);
  url.searchParams.set('scope', 'openid profile');
  url.searchParams.set('state', state);
  url.searchParams.set('nonce', nonce);
  url.searchParams.set('code_challenge', await oauth.calculatePKCECodeChallenge(codeVerifier));
  url.searchParams.set('code_challenge_method', 'S256');
  if (localStorage.getItem(SIGNED_OUT_KEY)) url.searchParams.set('prompt', 'login');
  location.assign(url.href);
}

export interface SignInReturn {
  account: SignedInAccount;
  thenConnect: boolean;
  invite?: InviteSecret;
}

/**
 * When this page is the end of a sign-in (`#code=…&state=…`), finishes it; null when it is not.
 * The fragment is removed at once, and the pending sign-in is used once whatever the outcome.
 */
export async function completeSignIn(): Promise<SignInReturn | null> {
  const fragment = new URLSearchParams(location.hash.replace(/^#/, ''));
  if (!fragment.has('state') || !(fragment.has('code') || fragment.has('error'))) return null;
  history.replaceState(history.state, '', location.pathname + location.search);
  const pending = readJson<PendingSignIn>(sessionStorage, PENDING_KEY);
  sessionStorage.removeItem(PENDING_KEY);
  if (!pending) throw new SignInError('This sign-in was not started on this page, or was already used. Sign in again.');
  const params = new URLSearchParams();
  for (const name of RETURN_PARAMS) {
    const value = fragment.get(name);
    if (value !== null) params.set(name, value);
  }
  if (params.get('state') !== pending.state) {
    throw new SignInError('The sign-in answer does not belong to the sign-in this page started (its state differs), so it was refused. Sign in again.');
  }
  const as = await discover(pending.issuer);
  const client: oauth.Client = { client_id: pending.clientId };
  let checked: URLSearchParams;
  try {
    checked = oauth.validateAuthResponse(as, client, params, pending.state);
  } catch (error) {
    if (error instanceof oauth.AuthorizationResponseError) {
      throw new SignInError(`The account provider did not sign you in: ${error.error_description ?? error.error}.`);
    }
    throw new SignInError(`The sign-in answer was refused: ${(error as Error).message}.`);
  }
  let result: oauth.TokenEndpointResponse;
  try {
    const response = await oauth.authorizationCodeGrantRequest(as, client, oauth.None(), checked, pending.redirectUri, pending.codeVerifier, insecureOption(pending.issuer));
    result = await oauth.processAuthorizationCodeResponse(as, client, response, { expectedNonce: pending.nonce, requireIdToken: true });
  } catch (error) {
    const detail = error instanceof oauth.ResponseBodyError ? (error.error_description ?? error.error) : (error as Error).message;
    throw new SignInError(`The account provider's answer was refused: ${detail}.`);
  }
  const claims = oauth.getValidatedIdTokenClaims(result)!;
  const account = accountOf(pending.issuer, pending.clientId, result.id_token!, claims);
  refreshToken = result.refresh_token ?? null;
  sessionStorage.setItem(ACCOUNT_KEY, JSON.stringify(account));
  localStorage.removeItem(SIGNED_OUT_KEY);
  return { account, thenConnect: pending.thenConnect, ...(pending.invite && { invite: pending.invite }) };
}

/** The account this tab signed in with, while its ID token is valid or can be refreshed. */
export function signedInAccount(): SignedInAccount | null {
  const account = readJson<SignedInAccount>(sessionStorage, ACCOUNT_KEY);
  if (!account || typeof account.idToken !== 'string' || typeof account.expiresAt !== 'number') return null;
  return account;
}

/** Below this, an ID token is not used at all (it could expire on its way); the page signs in again. */
const LAST_USE_SECONDS = 5;

/**
 * An ID token to send for `account`: the one held while it has a while left, else a refreshed one
 * (refresh token), else the one held while it is still valid at all (a provider with short-lived ID
 * tokens and no refresh token must not send the page round in circles), else null: sign in again.
 */
export async function freshIdToken(account: SignedInAccount): Promise<string | null> {
  const now = Date.now() / 1000;
  if (account.expiresAt - EXPIRY_MARGIN_SECONDS > now) return account.idToken;
  const refreshed = refreshToken ? await refresh(account) : null;
  if (refreshed) return refreshed;
  return account.expiresAt - LAST_USE_SECONDS > now ? account.idToken : null;
}

async function refresh(account: SignedInAccount): Promise<string | null> {
  if (!refreshToken) return null;
  try {
    const as = await discover(account.issuer);
    const client: oauth.Client = { client_id: account.clientId };
    const response = await oauth.refreshTokenGrantRequest(as, client, oauth.None(), refreshToken, insecureOption(account.issuer));
    const result = await oauth.processRefreshTokenResponse(as, client, response);
    const claims = oauth.getValidatedIdTokenClaims(result);
    if (!claims || claims.sub !== account.subject) return null;
    refreshToken = result.refresh_token ?? refreshToken;
    const next = accountOf(account.issuer, account.clientId, result.id_token!, claims);
    sessionStorage.setItem(ACCOUNT_KEY, JSON.stringify(next));
    return next.idToken;
  } catch {
    refreshToken = null;
    return null;
  }
}

/**
 * Forgets this tab's tokens; the next sign-in shows the provider's login page again. A refresh token
 * is also revoked at the provider when it has a revocation endpoint (best effort: forgetting it here
 * is what signs out).
 */
export function signOut(): void {
  const account = signedInAccount();
  const held = refreshToken;
  sessionStorage.removeItem(ACCOUNT_KEY);
  sessionStorage.removeItem(PENDING_KEY);
  refreshToken = null;
  localStorage.setItem(SIGNED_OUT_KEY, '1');
  if (account && held) void revoke(account, held);
}

async function revoke(account: SignedInAccount, token: string): Promise<void> {
  try {
    const as = await discover(account.issuer);
    if (!as.revocation_endpoint) return;
    const response = await oauth.revocationRequest(as, { client_id: account.clientId }, oauth.None(), token, { additionalParameters: { token_type_hint: 'refresh_token' }, ...insecureOption(account.issuer) });
    await oauth.processRevocationResponse(response);
  } catch {
    // The provider keeps it until it expires; this tab no longer holds it.
  }
}
