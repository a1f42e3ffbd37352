// A real, OpenID-certified OIDC provider (npm `oidc-provider`) for Postern's integration tests.
//
// Environment:
//   IDP_CONFIG  path of a JSON file: { issuer?, keyFile, clients: [...], users: {...} }
// It listens on 127.0.0.1 port 0 and prints one JSON line, {"port": N, "issuer": "..."}, once
// it accepts requests. With no `issuer` in the config the issuer is its own address; tests that
// put a proxy in front of it pass the proxy's address instead.
import Provider from 'oidc-provider';
import { createPrivateKey } from 'node:crypto';
import { createServer } from 'node:http';
import { readFileSync } from 'node:fs';

const config = JSON.parse(readFileSync(process.env.IDP_CONFIG, 'utf8'));
const signingKey = createPrivateKey(readFileSync(config.keyFile, 'utf8'));
const users = config.users;

const server = createServer();
server.listen(0, '127.0.0.1', () => {
  const port = server.address().port;
  const issuer = config.issuer || `http://127.0.0.1:${port}`;
  const provider = new Provider(issuer, {
    clients: config.clients,
    jwks: { keys: [{ ...signingKey.export({ format: 'jwk' }), kid: 'postern-test', use: 'sig', alg: 'RS256' }] },
    cookies: { keys: ['postern-test-cookie-key'] },
    pkce: { required: () => true },
    // Put profile claims into the ID token itself, as most corporate providers do.
    conformIdTokenClaims: false,
    scopes: ['openid', 'email', 'profile'],
    claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name', 'preferred_username', 'groups'] },
    features: { devInteractions: { enabled: true } },
    async findAccount(ctx, sub) {
      const user = users[sub];
      if (!user) return undefined;
      return {
        accountId: sub,
        async claims() {
          return { sub, email: user.email, email_verified: true, name: user.name, preferred_username: sub, groups: user.groups };
        },
      };
    },
    // Postern is a first-party client: grant the requested scopes without a consent screen.
    async loadExistingGrant(ctx) {
      const grantId = ctx.oidc.result?.consent?.grantId || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
      if (grantId) return ctx.oidc.provider.Grant.find(grantId);
      const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId });
      grant.addOIDCScope(ctx.oidc.params.scope || 'openid');
      await grant.save();
      return grant;
    },
  });
  // The built-in development login accepts any password; check it for real.
  provider.use(async (ctx, next) => {
    if (!(ctx.method === 'POST' && /^\/interaction\/[^/]+$/.test(ctx.path))) return next();
    let body = '';
    for await (const chunk of ctx.req) body += chunk;
    const form = new URLSearchParams(body);
    const login = form.get('login');
    if (!users[login] || users[login].password !== form.get('password')) {
      ctx.status = 401;
      ctx.body = 'invalid credentials';
      return;
    }
    await provider.interactionFinished(ctx.req, ctx.res, { login: { accountId: login } }, { mergeWithLastSubmission: false });
    ctx.respond = false;
  });
  server.on('request', provider.callback());
  console.log(JSON.stringify({ port, issuer }));
});
