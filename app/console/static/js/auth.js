// Sign-in, sign-up and the invitation link: the same auth endpoints as every client (they set the cookie).
import { api } from './api.js';
import { $, notice, ready, showFieldErrors } from './dom.js';
import { loadSession } from './shell.js';

function nextPath() {
  const wanted = new URLSearchParams(location.search).get('next') || '/';
  // Only a path on this site: never //host or a scheme.
  return wanted.startsWith('/') && !wanted.startsWith('//') && !wanted.startsWith('/\\') ? wanted : '/';
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
