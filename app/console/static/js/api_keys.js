// Admin › API keys: create (the secret is shown once, with copy), list and revoke (POST, GET, DELETE
// /api/v1/admin/api-keys). The secret lives only in this page's input until Done or the next page.
import { api } from './api.js';
import { $, el, fillTable, notice, ready, showError, showFieldErrors, clearFieldErrors, when } from './dom.js';
import { allowed, role, startShell } from './shell.js';

let session = null;

function status(key) {
  if (key.revokedAt) return `revoked ${when(key.revokedAt)}`;
  if (key.expiresAt && new Date(key.expiresAt) <= new Date()) return 'expired';
  return 'active';
}

async function revoke(key) {
  if (!window.confirm(`Revoke the key ${key.name}? Scripts using it stop working at once.`)) return;
  const answer = await api('DELETE', `/api/v1/admin/api-keys/${encodeURIComponent(key.id)}`);
  if (!answer.ok) { showError(answer.error); return; }
  notice(`Revoked the key ${answer.data.name}.`, 'success');
  await load();
}

function keyRow(key) {
  const live = status(key) === 'active';
  return el('tr', { 'data-key-id': key.id, 'data-name': key.name, 'data-status': live ? 'active' : (key.revokedAt ? 'revoked' : 'expired') },
    el('td', { text: key.name }), el('td', { text: key.role }), el('td', {}, el('code', { text: `${key.start}…` })),
    el('td', { text: when(key.createdAt) }), el('td', { text: key.expiresAt ? when(key.expiresAt) : 'never' }),
    el('td', { text: key.lastUsedAt ? when(key.lastUsedAt) : 'never' }), el('td', { class: 'key-status', text: status(key) }),
    el('td', {}, live && allowed('matrix:apiKey:delete', session)
      ? el('button', { type: 'button', class: 'danger revoke', onclick: () => revoke(key) }, 'Revoke') : ''));
}

async function load() {
  const answer = await api('GET', '/api/v1/admin/api-keys');
  if (!answer.ok) { showError(answer.error); return false; }
  fillTable($('#keys'), null, answer.data.data, keyRow);
  return true;
}

function roleChoices() {
  // A key acts with at most its creator's role: offer only those (the API refuses the others anyway).
  const select = $('#key-role');
  const roles = JSON.parse(select.dataset.roles);
  const mine = roles.indexOf(role(session));
  select.replaceChildren(...roles.slice(0, mine + 1).map((r) => el('option', { value: r, text: r })));
}

function showSecret(secret) {
  $('#secret-value').value = secret;
  $('#secret').hidden = false;
  $('#secret-value').focus();
  $('#secret-value').select();
}

function hideSecret() {
  $('#secret-value').value = '';
  $('#secret').hidden = true;
}

async function copySecret() {
  const input = $('#secret-value');
  try {
    await navigator.clipboard.writeText(input.value);
  } catch (err) {
    // Without clipboard permission: copy the selected text the older way.
    input.select();
    if (!document.execCommand('copy')) { notice('Copying was refused by the browser: select the key and copy it.', 'error'); return; }
  }
  notice('Copied the key to the clipboard.', 'success');
}

export async function start() {
  session = await startShell();
  if (!session) return;
  if (!(await load())) return;
  const form = $('#new-key');
  if (form) {
    roleChoices();
    $('#copy-secret').addEventListener('click', copySecret);
    $('#hide-secret').addEventListener('click', () => { hideSecret(); notice(''); });
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      hideSecret();
      const body = { name: $('#key-name').value.trim(), role: $('#key-role').value };
      const expires = $('#key-expiresAt').value;
      if (expires) {
        const date = new Date(expires);
        body.expiresAt = Number.isNaN(date.getTime()) ? expires : date.toISOString();
      }
      const answer = await api('POST', '/api/v1/admin/api-keys', body);
      if (!answer.ok) {
        if (answer.status === 400) showFieldErrors(form, answer.error, 'key-'); else showError(answer.error);
        return;
      }
      clearFieldErrors(form);
      form.reset();
      roleChoices();
      showSecret(answer.data.key);
      notice(`Created the key ${answer.data.name} (${answer.data.role}).`, 'success');
      await load();
    });
  }
  ready();
}
