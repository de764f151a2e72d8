// panva's oauth4webapi registers a client at `oauthcli serve` (RFC 7591, found by discovery)
// and completes an authorization-code flow with it (PKCE, client_secret_basic, ID token).
// Two steps, because a person (the test) logs in between them:
//
//   node o4w_register.mjs MODULES_DIR ISSUER start    stdin: {"redirect_uri": ...}
//     prints {"client": ..., "authorization_url": ..., "verifier": ..., "state": ..., "nonce": ...}
//   node o4w_register.mjs MODULES_DIR ISSUER finish   stdin: the start output + {"callback": URL}
//     prints {"claims": ID token claims, "userinfo": ..., "scope": ...}
import { createRequire } from 'node:module'
import path from 'node:path'

const [modules, issuerUrl, step] = process.argv.slice(2)
const require = createRequire(path.join(modules, 'noop.js'))
const oauth = await import(require.resolve('oauth4webapi'))

let input = ''
for await (const chunk of process.stdin) input += chunk
const given = JSON.parse(input)

const insecure = { [oauth.allowInsecureRequests]: true } // serve listens on plain 127.0.0.1
const issuer = new URL(issuerUrl)
const as = await oauth.processDiscoveryResponse(
  issuer, await oauth.discoveryRequest(issuer, insecure))

if (step === 'start') {
  const client = await oauth.processDynamicClientRegistrationResponse(
    await oauth.dynamicClientRegistrationRequest(as, {
      redirect_uris: [given.redirect_uri],
      client_name: 'oauth4webapi',
      scope: 'openid me',
      token_endpoint_auth_method: 'client_secret_basic',
    }, insecure))
  const verifier = oauth.generateRandomCodeVerifier()
  const state = oauth.generateRandomState()
  const nonce = oauth.generateRandomNonce()
  const url = new URL(as.authorization_endpoint)
  url.search = new URLSearchParams({
    response_type: 'code', client_id: client.client_id, redirect_uri: given.redirect_uri,
    scope: 'openid me', state, nonce,
    code_challenge: await oauth.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
  }).toString()
  process.stdout.write(JSON.stringify({
    client, authorization_url: url.href, verifier, state, nonce, redirect_uri: given.redirect_uri,
  }))
} else {
  const client = { client_id: given.client.client_id }
  const auth = oauth.ClientSecretBasic(given.client.client_secret)
  const params = oauth.validateAuthResponse(as, client, new URL(given.callback), given.state)
  const result = await oauth.processAuthorizationCodeResponse(as, client,
    await oauth.authorizationCodeGrantRequest(
      as, client, auth, params, given.redirect_uri, given.verifier, insecure),
    { expectedNonce: given.nonce, requireIdToken: true })
  const claims = oauth.getValidatedIdTokenClaims(result)
  const userinfo = await oauth.processUserInfoResponse(as, client, claims.sub,
    await oauth.userInfoRequest(as, client, result.access_token, insecure))
  process.stdout.write(JSON.stringify({ claims, userinfo, scope: result.scope }))
}
