// Admin › Single sign-on: register, list, verify domains, require SSO, remove (Better Auth's SSO paths under
// /api/auth/sso). The client secret is only typed into the form: no answer carries it back.
import { api } from './api.js';
import { $, el, fillTable, notice, ready, showError, showFieldErrors, clearFieldErrors } from './dom.js';
import { allowed, startShell } from './shell.js';

let session = null;

async function post(path, body, done) {
  const answer = await api('POST', path, body);
  if (!answer.ok) { showError(answer.error); return; }
  notice(done, 'success');
  await load();
  return answer.data;
}

async function showRecords(provider) {
  const answer = await api('POST', '/api/auth/sso/request-domain-verification', { providerId: provider.providerId });
  if (!answer.ok) { showError(answer.error); return; }
  $('#dns-records').replaceChildren(...answer.data.records.map((r) => el('li', { text: `${r.name}  TXT  "${r.value}"` })));
  $('#dns-record').hidden = false;
}

function actions(provider) {
  const buttons = [];
  if (allowed('matrix:ssoProvider:update', session)) {
    if (!provider.domainVerified) {
      buttons.push(el('button', { type: 'button', class: 'secondary', onclick: () => showRecords(provider) }, 'DNS record'));
      buttons.push(el('button', { type: 'button', onclick: () => post('/api/auth/sso/verify-domain',
        { providerId: provider.providerId }, `Verified the domains of ${provider.providerId}.`) }, 'Verify'));
    }
    buttons.push(el('button', { type: 'button', class: 'secondary', onclick: () => post('/api/auth/sso/update-provider',
      { providerId: provider.providerId, ssoRequired: !provider.ssoRequired },
      provider.ssoRequired ? 'Passwords are accepted again.' : 'SSO is now required.') },
      provider.ssoRequired ? 'Allow passwords' : 'Require SSO'));
  }
  if (allowed('matrix:ssoProvider:delete', session)) {
    buttons.push(el('button', { type: 'button', class: 'danger', onclick: () => {
      if (window.confirm(`Remove the provider ${provider.providerId}? Its sign-ins stop at once.`)) {
        post('/api/auth/sso/delete-provider', { providerId: provider.providerId }, `Removed ${provider.providerId}.`);
      }
    } }, 'Remove'));
  }
  return buttons;
}

function row(provider) {
  return el('tr', { 'data-provider-id': provider.providerId },
    el('td', { text: provider.providerId }), el('td', { text: provider.issuer }), el('td', { text: provider.domain }),
    el('td', { text: provider.domainVerified ? 'yes' : 'no' }), el('td', {}, el('code', { text: provider.redirectURI })),
    el('td', { text: provider.ssoRequired ? 'yes' : 'no' }), el('td', {}, ...actions(provider)));
}

async function load() {
  const answer = await api('GET', '/api/auth/sso/providers');
  if (!answer.ok) { showError(answer.error); return false; }
  fillTable($('#providers'), null, answer.data.providers, row);
  return true;
}

export async function start() {
  session = await startShell();
  if (!session) return;
  if (!(await load())) return;
  const form = $('#new-provider');
  if (form) {
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      const body = {
        providerId: $('#sso-providerId').value.trim(), issuer: $('#sso-issuer').value.trim(),
        domain: $('#sso-domain').value.trim(), defaultRole: $('#sso-defaultRole').value,
        ssoRequired: $('#sso-ssoRequired').checked,
        oidcConfig: { clientId: $('#sso-clientId').value.trim(), clientSecret: $('#sso-clientSecret').value },
      };
      const answer = await api('POST', '/api/auth/sso/register', body);
      $('#sso-clientSecret').value = '';
      if (!answer.ok) {
        if (answer.status === 400) showFieldErrors(form, answer.error, 'sso-'); else showError(answer.error);
        return;
      }
      clearFieldErrors(form);
      form.reset();
      notice(`Registered ${answer.data.providerId}: give the provider the redirect URI ${answer.data.redirectURI}.`, 'success');
      await load();
      await showRecords(answer.data);
    });
  }
  ready();
}
