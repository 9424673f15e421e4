// Admin › SCIM: tokens for an identity provider (POST, GET, DELETE /api/v1/admin/scim-tokens); the token is
// shown once, in this page's input until Done.
import { api } from './api.js';
import { $, el, fillTable, notice, ready, showError, showFieldErrors, clearFieldErrors, when } from './dom.js';
import { allowed, startShell } from './shell.js';

const TOKENS = '/api/v1/admin/scim-tokens';
let session = null;

async function revoke(token) {
  if (!window.confirm(`Revoke the token ${token.name}? Provisioning with it stops at once.`)) return;
  const answer = await api('DELETE', `${TOKENS}/${encodeURIComponent(token.id)}`);
  if (!answer.ok) { showError(answer.error); return; }
  notice(`Revoked the token ${token.name}.`, 'success');
  await load();
}

function tokenRow(token) {
  const live = !token.revokedAt;
  return el('tr', { 'data-token-id': token.id, 'data-name': token.name },
    el('td', { text: token.name }), el('td', {}, el('code', { text: `${token.start}…` })),
    el('td', { text: when(token.createdAt) }), el('td', { text: token.lastUsedAt ? when(token.lastUsedAt) : 'never' }),
    el('td', { text: live ? 'active' : `revoked ${when(token.revokedAt)}` }),
    el('td', {}, live && allowed('matrix:scim:delete', session)
      ? el('button', { type: 'button', class: 'danger revoke', onclick: () => revoke(token) }, 'Revoke') : ''));
}

async function load() {
  const answer = await api('GET', TOKENS);
  if (!answer.ok) { showError(answer.error); return false; }
  fillTable($('#tokens'), null, answer.data.data, tokenRow);
  return true;
}

export async function start() {
  session = await startShell();
  if (!session) return;
  $('#scim-base').textContent = `${window.location.origin}/scim/v2`;
  if (!(await load())) return;
  const form = $('#new-token');
  if (form) {
    $('#hide-secret').addEventListener('click', () => { $('#secret-value').value = ''; $('#secret').hidden = true; });
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      const answer = await api('POST', TOKENS, { name: $('#token-name').value.trim() });
      if (!answer.ok) {
        if (answer.status === 400) showFieldErrors(form, answer.error, 'token-'); else showError(answer.error);
        return;
      }
      clearFieldErrors(form);
      form.reset();
      $('#secret-value').value = answer.data.token;
      $('#secret').hidden = false;
      $('#secret-value').select();
      notice(`Created the token ${answer.data.name}.`, 'success');
      await load();
    });
  }
  ready();
}
