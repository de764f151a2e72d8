// panva's oauth4webapi as a client of `oauthcli serve`: discovery, client_credentials,
// introspection and revocation, authenticated by the method given (its own implementation
// of client_secret_basic, client_secret_post and private_key_jwt).
//
//   node o4w_client.mjs MODULES_DIR ISSUER CLIENT_ID METHOD SECRET_OR_PKCS8_PEM
//
// Prints one JSON object: {"token": ..., "introspection": ..., "after_revocation": ...}.
import { createRequire } from 'node:module'
import path from 'node:path'

const [modules, issuerUrl, clientId, method, credential] = process.argv.slice(2)
const require = createRequire(path.join(modules, 'noop.js'))
const oauth = await import(require.resolve('oauth4webapi'))

const insecure = { [oauth.allowInsecureRequests]: true } // serve listens on plain 127.0.0.1
const issuer = new URL(issuerUrl)
const as = await oauth.processDiscoveryResponse(
  issuer, await oauth.discoveryRequest(issuer, insecure))
const client = { client_id: clientId }

let auth
if (method === 'client_secret_basic') {
  auth = oauth.ClientSecretBasic(credential)
} else if (method === 'client_secret_post') {
  auth = oauth.ClientSecretPost(credential)
} else if (method === 'private_key_jwt') {
  const der = Buffer.from(credential.replace(/-----[^-]+-----|\s/g, ''), 'base64')
  const key = await crypto.subtle.importKey(
    'pkcs8', der, { name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign'])
  auth = oauth.PrivateKeyJwt({ key, kid: 'k1' })
} else {
  throw new Error(`unknown method ${method}`)
}

const token = await oauth.processClientCredentialsResponse(as, client,
  await oauth.clientCredentialsGrantRequest(as, client, auth, new URLSearchParams(), insecure))
const introspect = async () => oauth.processIntrospectionResponse(as, client,
  await oauth.introspectionRequest(as, client, auth, token.access_token, insecure))
const introspection = await introspect()
await oauth.processRevocationResponse(
  await oauth.revocationRequest(as, client, auth, token.access_token, insecure))
const after = await introspect()
process.stdout.write(JSON.stringify({ token, introspection, after_revocation: after }))
