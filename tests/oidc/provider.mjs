// A real OpenID provider for the tests: panva's oidc-provider (v9), on 127.0.0.1, on a free port.
//
// node provider.mjs MODULES_DIR CONFIG_JSON
//   MODULES_DIR  a node_modules directory holding oidc-provider
//   CONFIG_JSON  {"log": path of a JSON-lines log of token requests, "pkjwt_jwks": {...},
//                 "dpop_nonce": true to require DPoP nonces (RFC 9449 8, 9) everywhere,
//                 "require_par": true to require pushed authorization requests (RFC 9126)}
// Prints one JSON line {"issuer": ...} on stdout once it listens.
//
// Besides the stock features (devInteractions login/consent pages, device flow, revocation,
// introspection, userinfo, resource indicators with JWT access tokens, refresh tokens with
// offline_access, DPoP: tokens bound when a proof is sent), three small middlewares make the faults the tests need:
//   - the login form checks the password (devInteractions accept anything): a wrong one shows
//     "Invalid login or password" with a Cancel link, as a real provider would;
//   - every token request is logged (grant, code, client, auth), so a test can prove that a
//     code was never redeemed;
//   - client "device-slow" is told "slow_down" on its first two polls of each device code
//     (oidc-provider never sends slow_down itself); "device-expiring" gets 1 s device codes.
import crypto from 'node:crypto';
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import querystring from 'node:querystring';
import { pathToFileURL } from 'node:url';

const [modulesDir, configJson] = process.argv.slice(2);
const config = JSON.parse(configJson);
const { default: Provider, errors } = await import(
  pathToFileURL(path.join(modulesDir, 'oidc-provider', 'lib', 'index.js')).href
);

const ACCOUNTS = {
  alice: { password: 'wonderland', email: 'alice@example.com', name: 'Alice Liddell' },
};
const LOOPBACK = ['http://127.0.0.1/callback'];
const DEVICE = 'urn:ietf:params:oauth:grant-type:device_code';
const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const CODE_GRANTS = ['authorization_code', 'refresh_token', DEVICE, 'client_credentials'];

const server = http.createServer();
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const issuer = `http://127.0.0.1:${server.address().port}`;

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: 'confidential',
      client_secret: 'confidential-secret-0123456789',
      application_type: 'native',
      redirect_uris: [...LOOPBACK, 'http://127.0.0.1:1/registered'],
      grant_types: CODE_GRANTS,
      token_endpoint_auth_method: 'client_secret_basic',
    },
    {
      client_id: 'confidential-post',
      client_secret: 'confidential-post-secret-0123456789',
      application_type: 'native',
      redirect_uris: LOOPBACK,
      grant_types: CODE_GRANTS,
      token_endpoint_auth_method: 'client_secret_post',
    },
    {
      client_id: 'public',
      application_type: 'native',
      redirect_uris: LOOPBACK,
      grant_types: CODE_GRANTS,
      token_endpoint_auth_method: 'none',
    },
    {
      client_id: 'pkjwt',
      application_type: 'native',
      redirect_uris: LOOPBACK,
      grant_types: CODE_GRANTS,
      token_endpoint_auth_method: 'private_key_jwt',
      token_endpoint_auth_signing_alg: 'ES256',
      jwks: config.pkjwt_jwks,
    },
    ...['device-slow', 'device-expiring'].map((id) => ({
      client_id: id,
      application_type: 'native',
      redirect_uris: LOOPBACK,
      grant_types: [DEVICE],
      response_types: [],
      token_endpoint_auth_method: 'none',
    })),
    {
      // token exchange (RFC 8693) through the custom grant registered below
      client_id: 'exchanger',
      client_secret: 'exchanger-secret-0123456789',
      grant_types: [TOKEN_EXCHANGE],
      response_types: [],
      redirect_uris: [],
      token_endpoint_auth_method: 'client_secret_basic',
    },
  ],
  scopes: ['openid', 'offline_access', 'email', 'profile', 'api:read'],
  claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
  async findAccount(ctx, sub) {
    const account = ACCOUNTS[sub];
    if (!account) return undefined;
    return {
      accountId: sub,
      async claims() {
        return { sub, email: account.email, email_verified: true, name: account.name };
      },
    };
  },
  features: {
    devInteractions: { enabled: true },
    clientCredentials: { enabled: true },
    deviceFlow: { enabled: true },
    revocation: { enabled: true },
    introspection: { enabled: true },
    userinfo: { enabled: true },
    dPoP: {
      enabled: true,
      nonceSecret: config.dpop_nonce ? crypto.randomBytes(32) : undefined,
      requireNonce: () => Boolean(config.dpop_nonce),
    },
    pushedAuthorizationRequests: {
      enabled: true,
      requirePushedAuthorizationRequests: config.require_par === true,
    },
    resourceIndicators: {
      enabled: true,
      defaultResource: async (ctx, client, oneOf) => oneOf,
      useGrantedResource: async () => true,
      async getResourceServerInfo(ctx, resource) {
        if (!resource.startsWith('https://api.example.test/')) throw new errors.InvalidTarget();
        return {
          scope: 'api:read',
          audience: resource,
          accessTokenTTL: 300,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: 'RS256' } },
        };
      },
    },
  },
  ttl: {
    AccessToken: 300,
    IdToken: 300,
    DeviceCode: (ctx, code, client) => (client.clientId === 'device-expiring' ? 1 : 600),
  },
});

async function readForm(ctx) {
  const chunks = [];
  for await (const chunk of ctx.req) chunks.push(chunk);
  const raw = Buffer.concat(chunks).toString();
  ctx.req.body = raw; // oidc-provider's own body parser reads this once the stream is consumed
  return querystring.parse(raw);
}

const polls = new Map();
provider.use(async (ctx, next) => {
  if (ctx.method === 'POST' && /^\/interaction\/[^/]+$/.test(ctx.path)) {
    const form = await readForm(ctx);
    if (form.prompt === 'login' && ACCOUNTS[form.login]?.password !== form.password) {
      ctx.type = 'html';
      ctx.body = `<!DOCTYPE html><p>Invalid login or password.</p>
<a href="${ctx.path}/abort">Cancel</a>`;
      return;
    }
  }
  if (ctx.method === 'POST' && ctx.path === '/token') {
    const form = await readForm(ctx);
    const basic = (ctx.get('authorization') || '').startsWith('Basic ');
    fs.appendFileSync(
      config.log,
      `${JSON.stringify({
        grant_type: form.grant_type,
        code: form.code,
        client_id: form.client_id,
        basic,
        client_assertion_type: form.client_assertion_type,
        // the assertion's audience, as the provider received it (private_key_jwt)
        client_assertion_aud: form.client_assertion
          ? JSON.parse(Buffer.from(form.client_assertion.split('.')[1], 'base64url')).aud
          : undefined,
        resource: form.resource,
      })}\n`,
    );
    if (form.grant_type === DEVICE && form.client_id === 'device-slow') {
      const seen = (polls.get(form.device_code) || 0) + 1;
      polls.set(form.device_code, seen);
      if (seen <= 2) {
        ctx.status = 400;
        ctx.body = { error: 'slow_down', error_description: 'you are polling too quickly' };
        return;
      }
    }
  }
  await next();
});

// A minimal RFC 8693 grant, as oidc-provider lets one be added (provider.registerGrantType):
// a subject_token this provider issued (an access or client credentials token) is exchanged
// for a token of the requesting client, answered with issued_token_type (2.2.1).
provider.registerGrantType(
  TOKEN_EXCHANGE,
  async (ctx) => {
    const { subject_token: subject, subject_token_type: type } = ctx.oidc.params;
    if (!subject || type !== 'urn:ietf:params:oauth:token-type:access_token') {
      throw new errors.InvalidRequest('an access_token subject_token is required');
    }
    const found = (await provider.AccessToken.find(subject))
      || (await provider.ClientCredentials.find(subject));
    if (!found || found.isExpired) throw new errors.InvalidRequest('subject_token is not valid');
    const token = new provider.ClientCredentials({ client: ctx.oidc.client, scope: found.scope });
    const value = await token.save();
    ctx.body = {
      access_token: value,
      issued_token_type: 'urn:ietf:params:oauth:token-type:access_token',
      token_type: 'Bearer',
      expires_in: token.expiration,
      scope: found.scope,
    };
  },
  ['subject_token', 'subject_token_type', 'requested_token_type', 'audience', 'scope',
    'actor_token', 'actor_token_type'],
);

server.on('request', provider.callback());
process.stdout.write(`${JSON.stringify({ issuer })}\n`);
process.on('SIGTERM', () => process.exit(0));
