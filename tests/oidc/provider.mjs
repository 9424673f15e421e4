// A real OpenID Connect provider for Atlas's SSO tests: panva's oidc-provider (certified, pinned in
// package.json), run by tests/test_sso_oidc.py as
//
//   node provider.mjs <port> <config.json>
//
// config.json: {"clients": [{client_id, client_secret, redirect_uris}], "accounts": {"<login hint>": {claims}}}.
// The user "signs in" by the login_hint Atlas forwards (no form to fill): the interaction is finished
// for that account at once and consent is granted for the requested scopes. Everything else (codes,
// PKCE, nonces, the ID token and its RS256 signature, the JWKS, single-use codes) is oidc-provider's.
//
// Misbehaviour on demand, as a compromised or misconfigured IdP would: POST /_test/next-id-token
// {"audience"|"nonce"|"expiredBy": ...} changes the NEXT ID token issued (still signed with the
// provider's real key). The tests use it for the checks a well-behaved IdP never lets one see.
import http from "node:http";
import { readFileSync } from "node:fs";
import Provider from "oidc-provider";

const [port, configPath] = process.argv.slice(2);
const config = JSON.parse(readFileSync(configPath, "utf8"));
const issuer = `http://127.0.0.1:${port}`;
let nextIdToken = null;

const provider = new Provider(issuer, {
  clients: config.clients.map((c) => ({
    grant_types: ["authorization_code"], response_types: ["code"],
    token_endpoint_auth_method: "client_secret_basic", ...c,
  })),
  async findAccount(ctx, id) {
    const claims = config.accounts[id];
    return claims && { accountId: id, async claims() { return { sub: id, ...claims }; } };
  },
  claims: { openid: ["sub"], email: ["email", "email_verified"], profile: ["name"], groups: ["groups"] },
  scopes: ["openid", "email", "profile", "groups"],
  conformIdTokenClaims: false, // the email and profile claims in the ID token, as Okta, Entra and Google do
  features: { devInteractions: { enabled: false } },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  async loadExistingGrant(ctx) {
    const grantId = ctx.oidc.result?.consent?.grantId || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
    if (grantId) return ctx.oidc.provider.Grant.find(grantId);
    const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId });
    grant.addOIDCScope("openid email profile groups");
    await grant.save();
    return grant;
  },
  cookies: { keys: ["atlas-test-only-cookie-key"] },
  ttl: { AuthorizationCode: 60, IdToken: 300, AccessToken: 300, Session: 600, Interaction: 600, Grant: 600 },
});
provider.proxy = false;

const { IdToken } = provider;
const issue = IdToken.prototype.issue;
IdToken.prototype.issue = async function issueMaybeMisbehaving(options = {}) {
  const change = options.use === "idtoken" ? nextIdToken : null;
  if (!change) return issue.call(this, options);
  nextIdToken = null;
  if (change.nonce !== undefined) this.set("nonce", change.nonce);
  if (change.audience !== undefined) {
    this.client = Object.create(this.client, { clientId: { value: change.audience } });
  }
  const expiresAt = change.expiredBy ? Math.floor(Date.now() / 1000) - change.expiredBy : null;
  return issue.call(this, expiresAt ? { ...options, expiresAt } : options);
};

const callback = provider.callback();
http.createServer(async (req, res) => {
  try {
    if (req.method === "POST" && req.url === "/_test/next-id-token") {
      let body = "";
      for await (const chunk of req) body += chunk;
      nextIdToken = JSON.parse(body);
      res.writeHead(204).end();
      return;
    }
    if (req.url.startsWith("/interaction/")) {
      const details = await provider.interactionDetails(req, res);
      const result = details.prompt.name === "login"
        ? { login: { accountId: String(details.params.login_hint || "") } }
        : { consent: {} };
      await provider.interactionFinished(req, res, result, { mergeWithLastSubmission: false });
      return;
    }
    callback(req, res);
  } catch (error) {
    res.writeHead(500, { "content-type": "text/plain" }).end(String(error));
  }
}).listen(Number(port), "127.0.0.1", () => console.log("listening"));
