// panva's oauth4webapi as a client of `oauthcli serve`: a code flow with PKCE whose
// authorization request is pushed first (RFC 9126), then /users/me with the token.
//
//   node o4w_par_flow.mjs MODULES_DIR ISSUER CLIENT_ID REDIRECT_URI [SECRET]
//
// Prints {"authorize": URL, "par": {...}} on one line, reads the URL the browser was sent
// back to (the redirect URI with code, state and iss) from stdin, then prints
// {"token": ..., "me": ...}. Without SECRET the client is public (PKCE only).
import { createRequire } from 'node:module'
import path from 'node:path'
import readline from 'node:readline'

const [modules, issuerUrl, clientId, redirectUri, secret] = process.argv.slice(2)
const require = createRequire(path.join(modules, 'noop.js'))
const oauth = await import(require.resolve('oauth4webapi'))

const insecure = { [oauth.allowInsecureRequests]: true } // serve listens on plain 127.0.0.1
const issuer = new URL(issuerUrl)
const as = await oauth.processDiscoveryResponse(
  issuer, await oauth.discoveryRequest(issuer, insecure))
const client = { client_id: clientId }
const auth = secret ? oauth.ClientSecretBasic(secret) : oauth.None()

const verifier = oauth.generateRandomCodeVerifier()
const state = oauth.generateRandomState()
const params = new URLSearchParams({
  response_type: 'code',
  redirect_uri: redirectUri,
  scope: 'me',
  state,
  code_challenge: await oauth.calculatePKCECodeChallenge(verifier),
  code_challenge_method: 'S256',
})
const par = await oauth.processPushedAuthorizationResponse(as, client,
  await oauth.pushedAuthorizationRequest(as, client, auth, params, insecure))
const authorize = new URL(as.authorization_endpoint)
authorize.searchParams.set('client_id', clientId)
authorize.searchParams.set('request_uri', par.request_uri)
process.stdout.write(`${JSON.stringify({ authorize: authorize.href, par })}\n`)

const lines = readline.createInterface({ input: process.stdin })
const [callback] = await lines[Symbol.asyncIterator]().next().then((r) => [r.value])
lines.close()
const answer = oauth.validateAuthResponse(as, client, new URL(callback), state)
const token = await oauth.processAuthorizationCodeResponse(as, client,
  await oauth.authorizationCodeGrantRequest(
    as, client, auth, answer, redirectUri, verifier, insecure))
const me = await oauth.protectedResourceRequest(
  token.access_token, 'GET', new URL(`${issuerUrl}/users/me`), undefined, undefined, insecure)
process.stdout.write(`${JSON.stringify({ token, me: await me.json() })}\n`)
