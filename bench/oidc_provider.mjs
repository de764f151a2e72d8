// panva's oidc-provider (v9) for bench/token_endpoint.py: one confidential client_credentials
// client (client_secret_basic), on 127.0.0.1, on the port given; prints {"issuer": ...} once it
// listens. Defaults otherwise (memory adapter, development keys), with production-like logs off.
//
// node oidc_provider.mjs MODULES_DIR PORT CLIENT_ID CLIENT_SECRET ACCESS_TOKEN_FORMAT
//   ACCESS_TOKEN_FORMAT  "opaque" (oidc-provider's default for client_credentials) or "jwt"
//                        (a resource indicator whose tokens are ES256 JWTs, as serve mints)
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const [modulesDir, port, clientId, clientSecret, format] = process.argv.slice(2);
const { default: Provider } = await import(
  pathToFileURL(path.join(modulesDir, 'oidc-provider', 'lib', 'index.js')).href
);
const { generateKeyPair, exportJWK } = await import(
  pathToFileURL(path.join(modulesDir, 'jose', 'dist', 'webapi', 'index.js')).href
);

const { privateKey } = await generateKeyPair('ES256', { extractable: true });
const jwk = { ...(await exportJWK(privateKey)), kid: 'bench', alg: 'ES256', use: 'sig' };
const issuer = `http://127.0.0.1:${port}`;
const RESOURCE = 'urn:bench:api';

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: clientId,
      client_secret: clientSecret,
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      token_endpoint_auth_method: 'client_secret_basic',
      id_token_signed_response_alg: 'ES256',
    },
  ],
  jwks: { keys: [jwk] },
  scopes: ['items'],
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: format === 'jwt',
      defaultResource: () => RESOURCE,
      getResourceServerInfo: () => ({ scope: 'items', accessTokenFormat: 'jwt', jwt: { sign: { alg: 'ES256' } } }),
      useGrantedResource: () => true,
    },
  },
});
provider.listen(Number(port), '127.0.0.1', () => {
  process.stdout.write(JSON.stringify({ issuer }) + '\n');
});
