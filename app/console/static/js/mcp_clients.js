// MCP clients: the signed-in person's OAuth grants in this organization, with revoke
// (GET, DELETE /api/v1/oauth/grants). A revoked grant's next MCP call is refused.
import { api } from './api.js';
import { $, el, fillTable, notice, ready, showError, when } from './dom.js';
import { startShell } from './shell.js';

async function revoke(grant) {
  if (!window.confirm(`Revoke ${grant.clientName}? It stops working at once.`)) return;
  const answer = await api('DELETE', `/api/v1/oauth/grants/${encodeURIComponent(grant.id)}`);
  if (!answer.ok) { showError(answer.error); return; }
  notice(`Revoked ${grant.clientName}.`, 'success');
  await load();
}

function grantRow(grant) {
  return el('tr', { 'data-grant-id': grant.id },
    el('td', { text: grant.clientName }), el('td', { text: grant.scope }), el('td', {}, el('code', { text: grant.resource })),
    el('td', { text: when(grant.createdAt) }), el('td', { text: when(grant.refreshExpiresAt) }),
    el('td', {}, el('button', { type: 'button', class: 'danger revoke', onclick: () => revoke(grant) }, 'Revoke')));
}

async function load() {
  const answer = await api('GET', '/api/v1/oauth/grants');
  if (!answer.ok) { showError(answer.error); return false; }
  fillTable($('#grants'), null, answer.data.data, grantRow);
  return true;
}

export async function start() {
  const session = await startShell();
  if (!session) return;
  await load();
  ready();
}
