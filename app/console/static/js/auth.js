// Sign-in, sign-up and the invitation link: the same auth endpoints as every client (they set the cookie).
import { api } from './api.js';
import { $, notice, ready, showFieldErrors } from './dom.js';
import { loadSession } from './shell.js';

// Where to go after signing in or up. `next` is resolved by the browser's own URL parser against this
// origin and kept only when the result is on this origin and names a console page (its first path segment
// is one of the console's roots, which the shell lists from the server's URL map). Checking the raw text
// instead misses what the parser does: it drops tabs and newlines, reads backslashes as slashes and
// removes dot segments, so `/%09/evil.example/` becomes `//evil.example/`. The absolute URL is what is
// followed, never the text. Anything else goes to the default page.
export function nextUrl(raw, origin = location.origin) {
  const fallback = new URL('/', origin).href;
  if (!raw) return fallback;
  let url;
  try { url = new URL(raw, origin); } catch (err) { return fallback; }
  if (url.origin !== origin || !['http:', 'https:'].includes(url.protocol)) return fallback;
  const roots = JSON.parse(document.body.dataset.consoleRoots || '[]');
  const root = url.pathname.split('/')[1];
  if (url.pathname !== '/' && !(root && roots.includes(root))) return fallback;
  return url.href;
}

function nextPath() {
  return nextUrl(new URLSearchParams(location.search).get('next'));
}

function values(form) {
  return Object.fromEntries(new FormData(form).entries());
}

function onSubmit(form, path, prefix, done) {
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const answer = await api('POST', path, values(form));
    if (!answer.ok) { showFieldErrors(form, answer.error, prefix); return; }
    await done(answer);
  });
}

async function accept(invitationId) {
  const answer = await api('POST', '/api/auth/organization/accept-invitation', { invitationId });
  if (!answer.ok) { notice(answer.error.message, 'error'); return; }
  // Work in the org just joined: set-active answers with a fresh session cookie.
  const orgId = answer.data.member.organizationId;
  const switched = await api('POST', '/api/auth/organization/set-active', { organizationId: orgId });
  if (!switched.ok) { notice(switched.error.message, 'error'); return; }
  location.assign('/');
}

async function invitationPage() {
  const invitationId = $('#invitation').dataset.invitationId;
  const session = await loadSession();
  if (session) {
    $('#invite-who').textContent = `Signed in as ${session.user.email}.`;
    $('#invite-signed-in').hidden = false;
    $('#accept').addEventListener('click', () => accept(invitationId));
  } else {
    $('#invite-anonymous').hidden = false;
    $('#sign-in-form').hidden = false;
    $('#sign-up-form').hidden = false;
    onSubmit($('#sign-in-form'), '/api/auth/sign-in/email', 'si-', () => accept(invitationId));
    onSubmit($('#sign-up-form'), '/api/auth/sign-up/email', 'su-', () => accept(invitationId));
  }
  ready();
}

export async function start(page) {
  if (page === 'accept-invitation') { await invitationPage(); return; }
  const other = $(page === 'sign-in' ? '#to-sign-up' : '#to-sign-in');
  if (other && location.search) other.setAttribute('href', other.getAttribute('href') + location.search);
  if (page === 'sign-in') {
    onSubmit($('#sign-in-form'), '/api/auth/sign-in/email', 'si-', () => location.assign(nextPath()));
  } else {
    onSubmit($('#sign-up-form'), '/api/auth/sign-up/email', 'su-', () => location.assign(nextPath()));
  }
  ready();
}
