// Admin › Connections › Datasources: the org's own databases (/api/v1/admin/connections/<id>):
// list, add, edit, test, delete. The host check's refusal and the test's result show beside the form.
import { api } from './api.js';
import { $, clearFieldErrors, el, fillTable, notice, showError, showFieldErrors, when } from './dom.js';
import { role } from './shell.js';

const BASE = '/api/v1/admin/connections';
const MANAGERS = ['admin', 'owner'];
let editing = null; // the id being edited, or null when adding
let manages = false;

function path(id) { return `${BASE}/${encodeURIComponent(id)}`; }

function outcome(...children) {
  $('#outcome-empty').hidden = true;
  $('#outcome').replaceChildren(...children);
  $('#connection-outcome').scrollIntoView({ block: 'nearest' });
}

// A refusal of the API (the host allowlist, a bad URL, a missing key): its message and code, in full.
function showRefusal(what, error) {
  outcome(el('p', { class: 'notice error', role: 'alert', id: 'outcome-refused', 'data-code': error.code },
    `${what}: ${error.message} (${error.code})`));
}

function showTest(id, result) {
  const lines = [];
  if (result.ok) {
    lines.push(el('p', { class: 'notice success', id: 'outcome-test', 'data-ok': 'true' },
      `${id}: connected in ${result.latencyMs} ms`, result.serverVersion ? `, PostgreSQL ${result.serverVersion}` : ''));
    for (const warning of result.warnings || []) lines.push(el('p', { class: 'notice warning', text: warning }));
  } else {
    lines.push(el('p', { class: 'notice error', role: 'alert', id: 'outcome-test', 'data-ok': 'false' },
      `${id}: the test failed: ${result.error}`));
  }
  outcome(...lines);
}

async function test(id) {
  const answer = await api('POST', `${path(id)}/test`);
  if (!answer.ok) { showRefusal(`Testing ${id}`, answer.error); return; }
  showTest(id, answer.data);
}

function resetForm() {
  editing = null;
  const form = $('#datasource-form');
  form.reset();
  clearFieldErrors(form);
  $('#conn-id').readOnly = false;
  $('#form-heading').textContent = 'Add a connection';
  $('#cancel-edit').hidden = true;
}

function edit(connection) {
  resetForm();
  editing = connection.id;
  $('#conn-id').value = connection.id;
  $('#conn-id').readOnly = true;
  $('#conn-url').value = connection.url;
  $('#conn-description').value = connection.description || '';
  $('#form-heading').textContent = `Edit ${connection.id}`;
  $('#cancel-edit').hidden = false;
  $('#conn-url').focus();
}

async function remove(connection) {
  if (!window.confirm(`Delete the connection ${connection.id}? Queries naming it will stop working.`)) return;
  const answer = await api('DELETE', path(connection.id));
  if (!answer.ok) { showRefusal(`Deleting ${connection.id}`, answer.error); return; }
  if (editing === connection.id) resetForm();
  notice(`The connection ${connection.id} was deleted.`, 'success');
  await load();
}

function row(connection) {
  const actions = manages ? [
    el('button', { type: 'button', class: 'secondary test', onclick: () => test(connection.id) }, 'Test'), ' ',
    el('button', { type: 'button', class: 'secondary edit', onclick: () => edit(connection) }, 'Edit'), ' ',
    el('button', { type: 'button', class: 'danger delete', onclick: () => remove(connection) }, 'Delete')] : [];
  return el('tr', { 'data-id': connection.id },
    el('td', {}, el('code', { text: connection.id })), el('td', {}, el('code', { text: connection.url })),
    el('td', { text: connection.description || '' }),
    el('td', { text: connection.hasPassword ? 'stored' : 'none' }),
    el('td', { class: 'number', text: connection.version }), el('td', { text: when(connection.updatedAt) }),
    el('td', {}, actions));
}

export async function load() {
  const answer = await api('GET', BASE);
  if (!answer.ok) { showError(answer.error); return false; }
  const connections = answer.data.connections;
  $('#datasources-section').hidden = !Array.isArray(connections);
  if (Array.isArray(connections)) fillTable($('#datasources'), null, connections, row);
  return true;
}

async function save(event) {
  event.preventDefault();
  const form = $('#datasource-form');
  const id = $('#conn-id').value.trim();
  const body = { url: $('#conn-url').value.trim(), description: $('#conn-description').value };
  const password = $('#conn-password').value;
  if (password) body.password = password;
  const answer = editing ? await api('PATCH', path(editing), body) : await api('POST', BASE, { id, ...body });
  if (!answer.ok) {
    showFieldErrors(form, answer.error, 'conn-');
    showRefusal(editing ? `Saving ${editing}` : `Adding ${id || 'the connection'}`, answer.error);
    return;
  }
  const saved = answer.data.id;
  notice(`The connection ${saved} was saved.`, 'success');
  resetForm();
  await load();
  await test(saved);
}

export async function startDatasources(session) {
  manages = MANAGERS.includes(role(session));
  if (!(await load())) return false;
  $('#datasource-editor').hidden = !manages || $('#datasources-section').hidden;
  $('#datasource-form').addEventListener('submit', save);
  $('#cancel-edit').addEventListener('click', resetForm);
  return true;
}
