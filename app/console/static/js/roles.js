// Admin › Roles: custom roles (Better Auth's create-role, list-roles, delete-role under /api/auth/organization).
import { api } from './api.js';
import { $, el, fillTable, notice, ready, showError, showFieldErrors, clearFieldErrors, when } from './dom.js';
import { allowed, startShell } from './shell.js';

const ORG = '/api/auth/organization';
let session = null;

function cellsText(permission) {
  return Object.entries(permission || {}).map(([resource, actions]) => `${resource}: ${actions.join(', ')}`).join('; ') || 'none';
}

async function remove(role) {
  if (!window.confirm(`Delete the role ${role.role}?`)) return;
  const answer = await api('POST', `${ORG}/delete-role`, { roleName: role.role });
  if (!answer.ok) { showError(answer.error); return; }
  notice(`Deleted the role ${role.role}.`, 'success');
  await load();
}

function roleRow(role) {
  return el('tr', { 'data-role': role.role },
    el('td', { text: role.role }), el('td', { text: cellsText(role.permission) }),
    el('td', { text: when(role.updatedAt || role.createdAt) }),
    el('td', {}, allowed('matrix:ac:delete', session)
      ? el('button', { type: 'button', class: 'danger delete', onclick: () => remove(role) }, 'Delete') : ''));
}

async function load() {
  const answer = await api('GET', `${ORG}/list-roles`);
  if (!answer.ok) { showError(answer.error); return false; }
  fillTable($('#roles'), null, answer.data, roleRow);
  return true;
}

function cellBoxes() {
  const box = $('#cells');
  const matrix = JSON.parse(box.dataset.cells);
  box.replaceChildren(...Object.entries(matrix).map(([resource, actions]) => el('div', { class: 'cell-row' },
    el('span', { text: resource }),
    ...actions.map((action) => el('label', {}, el('input', { type: 'checkbox', name: `${resource}:${action}` }), ` ${action}`)))));
}

export async function start() {
  session = await startShell();
  if (!session) return;
  if (!(await load())) return;
  const form = $('#new-role');
  if (form) {
    cellBoxes();
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      const permission = {};
      for (const box of form.querySelectorAll('#cells input:checked')) {
        const [resource, action] = box.name.split(':');
        (permission[resource] ||= []).push(action);
      }
      const answer = await api('POST', `${ORG}/create-role`, { role: $('#role-role').value.trim(), permission });
      if (!answer.ok) {
        if (answer.status === 400 && answer.error.fields) showFieldErrors(form, answer.error, 'role-'); else showError(answer.error);
        return;
      }
      clearFieldErrors(form);
      form.reset();
      notice(`Created the role ${answer.data.roleData.role}.`, 'success');
      await load();
    });
  }
  ready();
}
