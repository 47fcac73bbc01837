// A stand-in OpenID provider for trying docs/deploy.md on one machine: node-oidc-provider (the
// certified library Gatehouse depends on) with its development login views (any username, any
// password) and one client, `gatehouse`. Never use it for real accounts.
//   node scripts/deploy-trial/provider.mjs [port]   → issuer http://127.0.0.1:<port> (default 4500)
import Provider from 'oidc-provider';

const port = Number(process.argv[2] ?? 4500);
const issuer = `http://127.0.0.1:${port}`;
const provider = new Provider(issuer, {
  clients: [
    {
      client_id: 'gatehouse',
      client_secret: 'trial-only-secret',
      redirect_uris: ['http://127.0.0.1:4501/callback'],
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_post',
    },
  ],
  // The account is whoever signs in: `sub` is the username typed.
  findAccount: (_ctx, sub) => ({ accountId: sub, claims: () => ({ sub }) }),
  features: { devInteractions: { enabled: true } },
});
provider.listen(port, '127.0.0.1', () => console.log(`OpenID provider (trial only) at ${issuer}`));
