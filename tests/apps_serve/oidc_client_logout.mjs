// panva's openid-client as a relying party of `oauthcli serve`: discovery, then the
// RP-initiated logout URL it builds from end_session_endpoint (it refuses to build one
// when the metadata has none).
//
//   node oidc_client_logout.mjs MODULES_DIR ISSUER CLIENT_ID ID_TOKEN POST_LOGOUT_URI STATE
//
// Prints one JSON object: {"url": ...}.
import { createRequire } from 'node:module'
import path from 'node:path'

const [modules, issuerUrl, clientId, idToken, postLogout, state] = process.argv.slice(2)
const require = createRequire(path.join(modules, 'noop.js'))
const client = await import(require.resolve('openid-client'))

const config = await client.discovery(new URL(issuerUrl), clientId, undefined, client.None(), {
  execute: [client.allowInsecureRequests], // serve listens on plain 127.0.0.1
})
const url = client.buildEndSessionUrl(config, {
  id_token_hint: idToken,
  post_logout_redirect_uri: postLogout,
  state,
})
process.stdout.write(JSON.stringify({ url: url.href }))
