import { createDpopProof, type DpopSigner } from '../dpop';

/**
 * A fetch that signs a fresh DPoP proof for each request's actual method and URL, and sends the
 * access token with the DPoP scheme. Given to tRPC links, it makes every call sender-constrained.
 */
export function dpopFetch(signer: DpopSigner, accessToken: (() => string) | undefined, baseFetch: typeof fetch = fetch): typeof fetch {
  return async (input, init) => {
    const isRequest = typeof Request !== 'undefined' && input instanceof Request;
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : (input as Request).url;
    const method = (init?.method ?? (isRequest ? (input as Request).method : 'GET')).toUpperCase();
    const token = accessToken?.();
    const headers = new Headers(init?.headers ?? (isRequest ? (input as Request).headers : undefined));
    headers.set('DPoP', await createDpopProof(signer, { htm: method, htu: url, ...(token !== undefined && { accessToken: token }) }));
    if (token !== undefined) headers.set('Authorization', `DPoP ${token}`);
    return baseFetch(input, { ...init, method, headers });
  };
}
