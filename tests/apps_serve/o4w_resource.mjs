// panva's oauth4webapi asks `oauthcli serve` for tokens for RFC 8707 resources
// (client_credentials, client_secret_basic), and for one the server does not know.
//
//   node o4w_resource.mjs MODULES_DIR ISSUER CLIENT_ID SECRET RESOURCE1 RESOURCE2
//
// Prints one JSON object: {"one": token, "both": token, "unknown": {"error", "status"}}.
import { createRequire } from 'node:module'
import path from 'node:path'

const [modules, issuerUrl, clientId, secret, first, second] = process.argv.slice(2)
const require = createRequire(path.join(modules, 'noop.js'))
const oauth = await import(require.resolve('oauth4webapi'))

const insecure = { [oauth.allowInsecureRequests]: true } // serve listens on plain 127.0.0.1
const issuer = new URL(issuerUrl)
const as = await oauth.processDiscoveryResponse(
  issuer, await oauth.discoveryRequest(issuer, insecure))
const client = { client_id: clientId }
const auth = oauth.ClientSecretBasic(secret)

const grant = async (...resources) => {
  const params = new URLSearchParams()
  for (const resource of resources) params.append('resource', resource)
  return oauth.processClientCredentialsResponse(as, client,
    await oauth.clientCredentialsGrantRequest(as, client, auth, params, insecure))
}

const one = await grant(first)
const both = await grant(first, second)
let unknown = null
try {
  await grant('https://unknown.example/api')
} catch (err) {
  unknown = { error: err.error, status: err.status }
}
process.stdout.write(JSON.stringify({ one, both, unknown }))
