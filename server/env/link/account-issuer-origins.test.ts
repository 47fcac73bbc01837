import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listenOnLoopback, type TestServer } from '../../identity/testing';
import { accountIssuerOrigins } from './account-issuer-origins';

// A relay naming an issuer whose token endpoint lives on another origin (as Google's does).
let server: TestServer;
let answers: Record<string, [number, string]> = {};
beforeAll(async () => {
  server = await listenOnLoopback((req, res) => {
    const [status, body] = answers[req.url ?? ''] ?? [404, '{}'];
    res.writeHead(status, { 'content-type': 'application/json' }).end(body);
  });
});
afterAll(() => server.close());

describe('accountIssuerOrigins', () => {
  it('gives the issuer’s origin and its token endpoint’s, once each', async () => {
    answers = {
      '/.well-known/gatehouse-configuration': [200, JSON.stringify({ accountIssuer: `${server.url}/realms/home/`, clientId: 'c', relayIssuer: server.url })],
      '/realms/home/.well-known/openid-configuration': [200, JSON.stringify({ issuer: `${server.url}/realms/home`, token_endpoint: 'https://tokens.example.com/token' })],
    };
    expect(await accountIssuerOrigins(`${server.url}/`)).toEqual([server.url, 'https://tokens.example.com']);
    answers['/realms/home/.well-known/openid-configuration'] = [200, JSON.stringify({ token_endpoint: `${server.url}/realms/home/token` })];
    expect(await accountIssuerOrigins(server.url)).toEqual([server.url]);
  });

  it('refuses what it cannot read, and never takes a non-web origin', async () => {
    answers = { '/.well-known/gatehouse-configuration': [503, '{"error":"temporarily_unavailable"}'] };
    await expect(accountIssuerOrigins(server.url)).rejects.toThrow(/HTTP 503/);
    answers = { '/.well-known/gatehouse-configuration': [200, JSON.stringify({ accountIssuer: 'javascript:alert(1)' })] };
    await expect(accountIssuerOrigins(server.url)).rejects.toThrow(/no account issuer/);
    answers = { '/.well-known/gatehouse-configuration': [200, 'x'.repeat(70_000)] };
    await expect(accountIssuerOrigins(server.url)).rejects.toThrow();
    answers = {
      '/.well-known/gatehouse-configuration': [200, JSON.stringify({ accountIssuer: server.url })],
      '/.well-known/openid-configuration': [200, JSON.stringify({ token_endpoint: 'data:text/plain,x' })],
    };
    expect(await accountIssuerOrigins(server.url)).toEqual([server.url]);
  });
});
