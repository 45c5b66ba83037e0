// An OpenID Connect provider that stands in for Keycloak in end-to-end tests.
//
// Keycloak cannot run on the test machines, so this serves the same realm export
// (REALM_FILE) at the same issuer shape and endpoint paths, with a login form that
// a browser test fills in the way it would fill in Keycloak's. It is a test fixture:
// keys, sessions and tokens live in memory and die with the process.
//
//   REALM_FILE              Keycloak realm export (deploy/keycloak/realm-jupyterhub.json)
//   PORT                    port on 127.0.0.1; 0 picks a free one (the ready line names it)
//   EXTRA_REDIRECT_URIS     comma-separated redirect URIs added to every client, e.g. the
//                           test Hub's http://127.0.0.1:45678/hub/oauth_callback
//   EXTRA_POST_LOGOUT_URIS  comma-separated post-logout redirect URIs added likewise
//
// Once it accepts requests it prints one line on stdout:
//   oidc provider listening at <issuer>

import { generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import { once } from 'node:events';

import Provider, { errors } from 'oidc-provider';

const { REALM_FILE, PORT } = process.env;
if (!REALM_FILE || PORT === undefined) {
  console.error('oidc provider: REALM_FILE and PORT must be set');
  process.exit(2);
}

const list = (value) => (value ?? '').split(',').map((item) => item.trim()).filter(Boolean);
const unique = (items) => [...new Set(items)];
const extraRedirectUris = list(process.env.EXTRA_REDIRECT_URIS);
const extraPostLogoutUris = list(process.env.EXTRA_POST_LOGOUT_URIS);

const realm = JSON.parse(await readFile(REALM_FILE, 'utf8'));

// --- clients -------------------------------------------------------------------------

function clientFromRealm(client) {
  const redirectUris = unique([...(client.redirectUris ?? []), ...extraRedirectUris]);
  // Keycloak keeps post-logout URIs in one attribute, separated by "##"; "+" there
  // means "the same as the redirect URIs".
  const postLogoutUris = (client.attributes?.['post.logout.redirect.uris'] ?? '')
    .split('##')
    .filter(Boolean)
    .flatMap((uri) => (uri === '+' ? redirectUris : [uri]));
  const auth = client.publicClient
    ? { token_endpoint_auth_method: 'none' }
    // Registered as basic, but oidc-provider also accepts client_secret_post from a
    // client registered this way, which GenericOAuthenticator sends unless
    // basic_auth is set.
    : { token_endpoint_auth_method: 'client_secret_basic', client_secret: client.secret };
  return {
    client_id: client.clientId,
    client_name: client.name ?? client.clientId,
    ...auth,
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    redirect_uris: redirectUris,
    post_logout_redirect_uris: unique([...postLogoutUris, ...extraPostLogoutUris]),
  };
}

const clients = (realm.clients ?? [])
  .filter((client) => client.enabled !== false && !client.bearerOnly)
  .filter((client) => (client.protocol ?? 'openid-connect') === 'openid-connect')
  .map(clientFromRealm);

// --- accounts ------------------------------------------------------------------------

const users = realm.users ?? [];
const userBySubject = new Map(users.map((user) => [user.username, user]));

// Keycloak's login form takes the username (case-insensitively: Keycloak stores
// usernames lower-cased) or the email address.
function findUserByLogin(login) {
  const wanted = (login ?? '').trim().toLowerCase();
  if (!wanted) return undefined;
  return users.find((user) => user.username.toLowerCase() === wanted)
    ?? users.find((user) => user.email?.toLowerCase() === wanted);
}

function passwordMatches(user, password) {
  return (user.credentials ?? []).some(
    (credential) => credential.type === 'password' && credential.value === password,
  );
}

function claimsOf(user) {
  const name = [user.firstName, user.lastName].filter(Boolean).join(' ');
  return {
    // Keycloak's sub is a user UUID; the username serves here, since the Hub keys
    // users on preferred_username and a stable readable id makes failures legible.
    sub: user.username,
    preferred_username: user.username,
    email: user.email,
    email_verified: Boolean(user.emailVerified),
    name: name || undefined,
    given_name: user.firstName,
    family_name: user.lastName,
    // Keycloak's group membership mapper with full.path=false: the group's own name,
    // the last segment of its path.
    groups: (user.groups ?? []).map((path) => path.split('/').filter(Boolean).at(-1)),
  };
}

async function findAccount(_ctx, sub) {
  const user = userBySubject.get(sub);
  if (!user) return undefined;
  return { accountId: sub, claims: async () => claimsOf(user) };
}

// --- pages ---------------------------------------------------------------------------

const escapeHtml = (value) => String(value ?? '').replace(/[&<>"']/g, (char) => (
  { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[char]
));

const realmTitle = escapeHtml(realm.displayName || realm.realm);

function page(title, body) {
  return `<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>${escapeHtml(title)}</title>
  <style>
    body { font-family: sans-serif; max-width: 22rem; margin: 3rem auto; }
    label, input { display: block; width: 100%; margin-bottom: .5rem; }
    #input-error { color: #b00; }
  </style>
</head>
<body>
<h1>${escapeHtml(title)}</h1>
${body}
</body>
</html>
`;
}

// Ids and names as on Keycloak's login page, so a browser test fills both alike.
function loginPage(action, { username = '', error } = {}) {
  const message = error ? `<p id="input-error" role="alert">${escapeHtml(error)}</p>` : '';
  return page(`Sign in to ${realm.displayName || realm.realm}`, `${message}
<form id="kc-form-login" method="post" action="${escapeHtml(action)}">
  <label for="username">Username or email</label>
  <input id="username" name="username" type="text" value="${escapeHtml(username)}" autocomplete="username" autofocus>
  <label for="password">Password</label>
  <input id="password" name="password" type="password" autocomplete="current-password">
  <input id="kc-login" name="login" type="submit" value="Sign In">
</form>`);
}

// Keycloak asks before ending a session when the logout request carries no
// id_token_hint, as the Hub's does; its button is kc-logout.
async function logoutSource(ctx, form) {
  ctx.type = 'html';
  ctx.body = page('Logging out', `<p>Do you want to log out of ${realmTitle}?</p>
${form}
<button id="kc-logout" type="submit" form="op.logoutForm" name="logout" value="yes">Logout</button>`);
}

async function postLogoutSuccessSource(ctx) {
  ctx.type = 'html';
  ctx.body = page('You are logged out', '');
}

async function renderError(ctx, { error, error_description: description }) {
  ctx.type = 'html';
  ctx.body = page('We are sorry...', `<p id="kc-error-message">${escapeHtml(error)}${
    description ? `: ${escapeHtml(description)}` : ''}</p>`);
}

function sendHtml(res, status, html) {
  res.writeHead(status, {
    'content-type': 'text/html; charset=utf-8',
    'cache-control': 'no-store',
  });
  res.end(html);
}

// --- interactions: login and consent ---------------------------------------------------

async function readForm(req, limit = 64 * 1024) {
  let body = '';
  for await (const chunk of req) {
    body += chunk;
    if (body.length > limit) throw new Error('form body too large');
  }
  return new URLSearchParams(body);
}

function interactions(provider, mountPath) {
  const loginAction = (uid) => `${mountPath}/interaction/${uid}/login`;

  // The first-party client gets the scopes and claims it asked for without a consent
  // page, as Keycloak's own clients do: the Grant is recorded and the flow resumes.
  async function grantConsent(req, res, interaction) {
    const { prompt: { details }, params, session: { accountId } } = interaction;
    const grant = interaction.grantId
      ? await provider.Grant.find(interaction.grantId)
      : new provider.Grant({ accountId, clientId: params.client_id });
    if (details.missingOIDCScope) grant.addOIDCScope(details.missingOIDCScope.join(' '));
    if (details.missingOIDCClaims) grant.addOIDCClaims(details.missingOIDCClaims);
    for (const [indicator, scopes] of Object.entries(details.missingResourceScopes ?? {})) {
      grant.addResourceScope(indicator, scopes.join(' '));
    }
    const grantId = await grant.save();
    const consent = interaction.grantId ? {} : { grantId };
    await provider.interactionFinished(req, res, { consent }, { mergeWithLastSubmission: true });
  }

  async function show(req, res) {
    const interaction = await provider.interactionDetails(req, res);
    switch (interaction.prompt.name) {
      case 'login':
        return sendHtml(res, 200, loginPage(loginAction(interaction.uid), {
          username: interaction.params.login_hint,
        }));
      case 'consent':
        return grantConsent(req, res, interaction);
      default:
        return sendHtml(res, 400, page('We are sorry...', 'Unexpected interaction.'));
    }
  }

  async function login(req, res) {
    const interaction = await provider.interactionDetails(req, res);
    if (interaction.prompt.name !== 'login') {
      return sendHtml(res, 400, page('We are sorry...', 'No login is pending.'));
    }
    const form = await readForm(req);
    const username = form.get('username') ?? '';
    const user = findUserByLogin(username);
    // A failed attempt shows the form again with 200, as Keycloak's login page does.
    let error;
    if (!user || !passwordMatches(user, form.get('password') ?? '')) {
      error = 'Invalid username or password.';
    } else if (user.enabled === false) {
      error = 'Account is disabled, contact your administrator.';
    }
    if (error) {
      return sendHtml(res, 200, loginPage(loginAction(interaction.uid), { username, error }));
    }
    return provider.interactionFinished(
      req,
      res,
      { login: { accountId: user.username } },
      { mergeWithLastSubmission: false },
    );
  }

  return async (req, res, step) => {
    try {
      await (step === 'login' ? login(req, res) : show(req, res));
    } catch (err) {
      if (err instanceof errors.SessionNotFound) {
        // Expired or missing interaction cookie: the client has to start over.
        sendHtml(res, 400, page('We are sorry...', 'Your login attempt timed out. Start again.'));
        return;
      }
      throw err;
    }
  };
}

// --- storage -------------------------------------------------------------------------

// oidc-provider's built-in store warns at every start that it is for development
// only; that is what a test fixture wants, so it gets this small one instead.
const storage = new Map(); // `${model}:${id}` -> { payload, expiresAt }

class MemoryAdapter {
  constructor(model) {
    this.model = model;
  }

  key(id) {
    return `${this.model}:${id}`;
  }

  * entries() {
    const now = Date.now();
    for (const [key, entry] of storage) {
      if (entry.expiresAt <= now) storage.delete(key);
      else if (key.startsWith(`${this.model}:`)) yield [key, entry.payload];
    }
  }

  async upsert(id, payload, expiresIn) {
    const expiresAt = expiresIn ? Date.now() + expiresIn * 1000 : Infinity;
    storage.set(this.key(id), { payload, expiresAt });
  }

  async find(id) {
    const entry = storage.get(this.key(id));
    if (!entry) return undefined;
    if (entry.expiresAt > Date.now()) return entry.payload;
    storage.delete(this.key(id));
    return undefined;
  }

  async findByUid(uid) {
    for (const [, payload] of this.entries()) if (payload.uid === uid) return payload;
    return undefined;
  }

  async findByUserCode(userCode) {
    for (const [, payload] of this.entries()) if (payload.userCode === userCode) return payload;
    return undefined;
  }

  async consume(id) {
    const payload = await this.find(id);
    if (payload) payload.consumed = Math.floor(Date.now() / 1000);
  }

  async destroy(id) {
    storage.delete(this.key(id));
  }

  async revokeByGrantId(grantId) {
    for (const [key, payload] of this.entries()) if (payload.grantId === grantId) storage.delete(key);
  }
}

// --- provider --------------------------------------------------------------------------

function signingKey() {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { ...privateKey.export({ format: 'jwk' }), kid: randomUUID(), use: 'sig', alg: 'RS256' };
}

function configuration(mountPath) {
  return {
    adapter: MemoryAdapter,
    clients,
    findAccount,
    jwks: { keys: [signingKey()] },
    cookies: { keys: [randomBytes(32).toString('base64url')] },
    // Keycloak's paths under the realm, so the Hub's configuration needs no change.
    routes: {
      authorization: '/protocol/openid-connect/auth',
      token: '/protocol/openid-connect/token',
      userinfo: '/protocol/openid-connect/userinfo',
      end_session: '/protocol/openid-connect/logout',
      jwks: '/protocol/openid-connect/certs',
      pushed_authorization_request: '/protocol/openid-connect/ext/par/request',
    },
    // The client's default scopes in Keycloak (profile, email, groups) are added
    // whatever it asks for; the Hub asks for "openid profile email" and reads
    // preferred_username and groups from userinfo, so those ride on openid.
    claims: {
      openid: ['sub', 'preferred_username', 'groups'],
      profile: ['name', 'given_name', 'family_name', 'preferred_username'],
      email: ['email', 'email_verified'],
      groups: ['groups'],
    },
    // Keycloak puts the claims in the ID token too, not only in userinfo.
    conformIdTokenClaims: false,
    interactions: {
      url: (_ctx, interaction) => `${mountPath}/interaction/${interaction.uid}`,
    },
    features: {
      devInteractions: { enabled: false },
      rpInitiatedLogout: { enabled: true, logoutSource, postLogoutSuccessSource },
    },
    // PKCE (S256) is accepted when sent, and required only of public clients.
    pkce: { required: (_ctx, client) => client.clientAuthMethod === 'none' },
    // Keycloak hands out a refresh token with every code exchange.
    issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed('refresh_token'),
    // Keycloak's default lifespans; set explicitly also to keep the startup quiet.
    ttl: {
      AccessToken: 5 * 60,
      AuthorizationCode: 60,
      IdToken: 5 * 60,
      RefreshToken: 30 * 60,
      Interaction: 30 * 60,
      Session: 10 * 60 * 60,
      Grant: 10 * 60 * 60,
    },
    // The Hub calls the token and userinfo endpoints from its server, not a browser.
    clientBasedCORS: () => false,
    renderError,
  };
}

function logProviderErrors(provider) {
  provider.on('server_error', (_ctx, err) => console.error('oidc provider: server error:', err));
  // Client-side failures get one line each: enough to tell why an e2e login failed.
  for (const event of ['authorization.error', 'grant.error', 'userinfo.error',
    'end_session.error', 'end_session_confirm.error']) {
    provider.on(event, (_ctx, err) => {
      const why = [err.error_description, err.error_detail].filter(Boolean).join(': ');
      console.error(`oidc provider: ${event}: ${err.message}${why ? ` (${why})` : ''}`);
    });
  }
}

// Listen before building the provider, so that PORT=0 works: the issuer has to
// name the port the server actually got.
let handle = (_req, res) => { res.writeHead(503).end(); };
const server = http.createServer((req, res) => {
  Promise.resolve(handle(req, res)).catch((err) => {
    console.error('oidc provider: request failed:', err);
    if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
    res.end('internal error');
  });
});
server.listen(Number(PORT), '127.0.0.1');
await once(server, 'listening');

const issuer = `http://127.0.0.1:${server.address().port}/realms/${realm.realm}`;
const mountPath = new URL(issuer).pathname;
const provider = new Provider(issuer, configuration(mountPath));
logProviderErrors(provider);
const providerCallback = provider.callback();
const interaction = interactions(provider, mountPath);

handle = (req, res) => {
  const { pathname } = new URL(req.url, issuer);
  if (pathname !== mountPath && !pathname.startsWith(`${mountPath}/`)) {
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
    return undefined;
  }
  const step = /^\/interaction\/[^/]+(\/login)?$/.exec(pathname.slice(mountPath.length));
  if (step) return interaction(req, res, step[1] ? 'login' : 'show');
  // Mounted as express would mount it: oidc-provider finds its own routes in url
  // and works out the mount path from originalUrl.
  const rest = req.url.slice(mountPath.length);
  req.originalUrl = req.url;
  req.url = rest.startsWith('/') ? rest : `/${rest}`;
  return providerCallback(req, res);
};

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.once(signal, () => {
    server.close(() => process.exit(0));
    server.closeAllConnections();
  });
}

console.log(`oidc provider listening at ${issuer}`);
