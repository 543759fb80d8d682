// A third-party OpenID provider for ztagent's tests: panva's oidc-provider
// (an OpenID Certified implementation) with users and groups read from a
// JSON file on every sign-in, so that a test can change a user's groups at
// the IdP (S12). Its interaction pages are ours: a login form with #email,
// #password and #submit, and no consent screen (the team domain is a
// first-party client).
//
//   node server.mjs CONFIG.json
//
// CONFIG: {"host": "127.0.0.1", "port": 0, "users_file": "users.json",
//          "issuer_path": "/tenant-1/v2.0" (optional: the issuer's path, as
//          Entra ID's https://login.microsoftonline.com/<tenant>/v2.0),
//          "claims_in_userinfo_only": false (optional),
//          "clients": [{"client_id": "...", "client_secret": "...",
//                       "redirect_uris": ["http://acme.localhost:8781/cdn-cgi/access/callback"]}]}
// users_file: [{"email": "...", "password": "...", "name": "...", "groups": ["..."],
//               "claims": {"upn": "...", "department": "..."}}]
// Each key of a user's claims must be listed in CONFIG's "extra_claims"
// (released with the profile scope).
//
// It prints "ready <origin> <issuer>" on stdout once it listens, and exits on
// SIGTERM or when its stdin closes (so that a killed test leaves nothing
// behind).
import { createServer } from 'node:http';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import Provider from 'oidc-provider';

const config = JSON.parse(readFileSync(process.argv[2], 'utf8'));

function users() {
  return JSON.parse(readFileSync(config.users_file, 'utf8'));
}

function userByEmail(email) {
  const want = String(email || '').trim().toLowerCase();
  return users().find((u) => u.email.toLowerCase() === want);
}

function escape(s) {
  return String(s ?? '').replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function page(title, body) {
  return `<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>${escape(title)}</title></head><body><h1>${escape(title)}</h1>${body}</body></html>`;
}

function loginForm(uid, details, error) {
  const hint = details.params.login_hint || '';
  return page('Sign in to the test OpenID provider', `
${error ? `<p id="error">${escape(error)}</p>` : ''}
<form method="post" action="${escape(prefix)}/interaction/${escape(uid)}/login">
<label>Email <input id="email" name="email" value="${escape(hint)}"></label>
<label>Password <input id="password" name="password" type="password"></label>
<button id="submit" type="submit">Sign in</button>
</form>`);
}

const prefix = (config.issuer_path || '').replace(/\/+$/, '');

let provider;
const server = createServer(async (req, res) => {
  try {
    if (prefix) {
      // Mounted under the issuer's path, as express mounts it: the
      // provider reads the mount point from originalUrl.
      if (!req.url.startsWith(prefix + '/') && req.url !== prefix) {
        res.writeHead(404, { 'content-type': 'text/html' });
        return res.end(page('Not found', '<p id="error">not found</p>'));
      }
      req.originalUrl = req.url;
      req.url = req.url.slice(prefix.length) || '/';
    }
    const m = /^\/interaction\/([^/]+)(\/login)?$/.exec(new URL(req.url, 'http://x').pathname);
    if (!m) {
      return provider.callback()(req, res);
    }
    const uid = m[1];
    const details = await provider.interactionDetails(req, res);
    if (details.uid !== uid) {
      res.writeHead(400, { 'content-type': 'text/html' });
      return res.end(page('Bad request', '<p id="error">unknown interaction</p>'));
    }
    if (details.prompt.name !== 'login') {
      // Consent is granted by loadExistingGrant; any other prompt ends here.
      return provider.interactionFinished(req, res, {}, { mergeWithLastSubmission: true });
    }
    if (!m[2]) {
      res.writeHead(200, { 'content-type': 'text/html', 'cache-control': 'no-store' });
      return res.end(loginForm(uid, details));
    }
    if (req.method !== 'POST') {
      res.writeHead(405);
      return res.end();
    }
    let body = '';
    for await (const chunk of req) {
      body += chunk;
      if (body.length > 8192) break;
    }
    const form = new URLSearchParams(body);
    const u = userByEmail(form.get('email'));
    if (!u || u.password !== form.get('password')) {
      res.writeHead(200, { 'content-type': 'text/html', 'cache-control': 'no-store' });
      return res.end(loginForm(uid, details, 'Wrong email or password.'));
    }
    return provider.interactionFinished(req, res, { login: { accountId: u.email.toLowerCase() } }, { mergeWithLastSubmission: false });
  } catch (err) {
    res.writeHead(500, { 'content-type': 'text/html' });
    res.end(page('Error', `<p id="error">${escape(err.message)}</p>`));
  }
});

server.listen(config.port || 0, config.host || '127.0.0.1', () => {
  const { address, port } = server.address();
  const origin = `http://${address}:${port}`;
  const issuer = origin + prefix;
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  provider = new Provider(issuer, {
    clients: config.clients.map((c) => ({
      grant_types: ['authorization_code'],
      response_types: ['code'],
      require_auth_time: true,
      ...c,
    })),
    scopes: ['openid', 'email', 'profile', 'groups'],
    // groups come with profile, as Entra ID puts them in the token without
    // a scope of their own; the groups scope asks for them too.
    claims: { email: ['email', 'email_verified'], profile: ['name', 'groups', ...(config.extra_claims || [])], groups: ['groups'] },
    // Claims go into the ID token, as Entra ID and most providers put them;
    // a client asking for userinfo gets them there too. With
    // "claims_in_userinfo_only" the ID token carries only sub and
    // auth_time, as OpenID Connect Core §5.4 has it for scope claims.
    conformIdTokenClaims: !!config.claims_in_userinfo_only,
    async findAccount(ctx, id) {
      const u = userByEmail(id);
      if (!u) return undefined;
      return {
        accountId: id,
        async claims() {
          const now = userByEmail(id) || u;
          return { ...(now.claims || {}), sub: id, email: now.email, email_verified: true, name: now.name, groups: now.groups || [] };
        },
      };
    },
    async loadExistingGrant(ctx) {
      const grantId = ctx.oidc.result?.consent?.grantId || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
      if (grantId) {
        const g = await ctx.oidc.provider.Grant.find(grantId);
        if (g) return g;
      }
      const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId });
      grant.addOIDCScope('openid email profile groups');
      await grant.save();
      return grant;
    },
    interactions: { url: (ctx, interaction) => `${prefix}/interaction/${interaction.uid}` },
    features: { devInteractions: { enabled: false } },
    pkce: { required: () => false },
    cookies: { keys: [randomBytes(32).toString('hex')] },
    jwks: { keys: [{ ...privateKey.export({ format: 'jwk' }), use: 'sig', alg: 'RS256', kid: 'test-1' }] },
    ttl: { Session: 86400, Interaction: 3600, Grant: 86400, AccessToken: 3600, IdToken: 3600, AuthorizationCode: 600 },
    async renderError(ctx, out) {
      ctx.type = 'html';
      ctx.body = page('Error', `<p id="error">${escape(out.error)}: ${escape(out.error_description)}</p>`);
    },
  });
  provider.proxy = false;
  process.stdout.write(`ready ${origin} ${issuer}\n`);
});

function stop() {
  server.close();
  process.exit(0);
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
process.stdin.on('end', stop);
process.stdin.resume();
