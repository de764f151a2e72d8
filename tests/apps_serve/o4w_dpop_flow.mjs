// panva's oauth4webapi as a DPoP client of `oauthcli serve` (RFC 9449): the authorization
// code flow with PKCE and dpop_jkt, a DPoP-bound token, /userinfo and a refresh with proofs,
// each retried once on use_dpop_nonce as oauth4webapi's documentation shows.
//
//   node o4w_dpop_flow.mjs MODULES_DIR ISSUER CLIENT_ID REDIRECT_URI [par]
//
// With "par" the authorization request is pushed first (RFC 9126) with a DPoP proof, which
// binds the code to the key instead of dpop_jkt (RFC 9449 10.1); the URL then carries only
// client_id and request_uri.
// Prints {"authorization_url": ...} on a line, reads the redirect (callback URL) from stdin,
// then prints one JSON object: the token response, the key's thumbprint, the userinfo answer,
// the refreshed token type and every DPoP proof it sent ({url, method, proof}).
// Each step is one function below: a new one (e.g. a pushed authorization request before
// the redirect) slots in between without touching the others.
import { createRequire } from 'node:module'
import path from 'node:path'
import readline from 'node:readline'

const [modules, issuerUrl, clientId, redirectUri, mode] = process.argv.slice(2)
const require = createRequire(path.join(modules, 'noop.js'))
const oauth = await import(require.resolve('oauth4webapi'))

const sent = []
const spy = async (url, init) => {
  const proof = new Headers(init.headers).get('dpop')
  if (proof) sent.push({ url: String(url), method: init.method, proof })
  return fetch(url, init)
}
// serve listens on plain 127.0.0.1; every request goes through the spy.
const options = { [oauth.allowInsecureRequests]: true, [oauth.customFetch]: spy }
const issuer = new URL(issuerUrl)
const as = await oauth.processDiscoveryResponse(
  issuer, await oauth.discoveryRequest(issuer, options))
const client = { client_id: clientId }
const auth = oauth.None()
const DPoP = oauth.DPoP(client, await oauth.generateKeyPair('ES256'))

// RFC 9449 8: a use_dpop_nonce answer leaves its nonce in the handle; try once more.
async function withNonceRetry (attempt) {
  try {
    return await attempt()
  } catch (err) {
    if (oauth.isDPoPNonceError(err)) return attempt()
    throw err
  }
}

async function authorizationUrl (verifier, state) {
  const url = new URL(as.authorization_endpoint)
  url.searchParams.set('client_id', clientId)
  url.searchParams.set('redirect_uri', redirectUri)
  url.searchParams.set('response_type', 'code')
  url.searchParams.set('scope', 'openid profile offline_access')
  url.searchParams.set('state', state)
  url.searchParams.set('code_challenge', await oauth.calculatePKCECodeChallenge(verifier))
  url.searchParams.set('code_challenge_method', 'S256')
  url.searchParams.set('dpop_jkt', await DPoP.calculateThumbprint()) // RFC 9449 10
  return url
}

async function pushedAuthorizationUrl (verifier, state) {
  const params = new URLSearchParams({
    client_id: clientId,
    redirect_uri: redirectUri,
    response_type: 'code',
    scope: 'openid profile offline_access',
    state,
    code_challenge: await oauth.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
  })
  const pushed = await withNonceRetry(async () => oauth.processPushedAuthorizationResponse(
    as, client, await oauth.pushedAuthorizationRequest(as, client, auth, params,
      { ...options, DPoP })))
  const url = new URL(as.authorization_endpoint)
  url.searchParams.set('client_id', clientId)
  url.searchParams.set('request_uri', pushed.request_uri)
  return url
}

async function callback () {
  const lines = readline.createInterface({ input: process.stdin })
  for await (const line of lines) return new URL(line.trim())
  throw new Error('no callback URL on stdin')
}

const verifier = oauth.generateRandomCodeVerifier()
const state = oauth.generateRandomState()
const startUrl = mode === 'par' ? pushedAuthorizationUrl : authorizationUrl
process.stdout.write(JSON.stringify({ authorization_url: String(await startUrl(verifier, state)) }) + '\n')
const params = oauth.validateAuthResponse(as, client, await callback(), state)

const tokens = await withNonceRetry(async () => oauth.processAuthorizationCodeResponse(
  as, client, await oauth.authorizationCodeGrantRequest(
    as, client, auth, params, redirectUri, verifier, { ...options, DPoP })))
const sub = oauth.getValidatedIdTokenClaims(tokens).sub
const userinfo = await withNonceRetry(async () => oauth.processUserInfoResponse(
  as, client, sub, await oauth.userInfoRequest(as, client, tokens.access_token, { ...options, DPoP })))
const refreshed = await withNonceRetry(async () => oauth.processRefreshTokenResponse(
  as, client, await oauth.refreshTokenGrantRequest(
    as, client, auth, tokens.refresh_token, { ...options, DPoP })))

process.stdout.write(JSON.stringify({
  token: tokens,
  jkt: await DPoP.calculateThumbprint(),
  userinfo,
  refreshed_token_type: refreshed.token_type,
  proofs: sent
}) + '\n')
