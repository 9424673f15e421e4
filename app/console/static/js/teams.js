// Admin › Teams: create, rename-free listing with members, remove (Better Auth's team endpoints).
import { api } from './api.js';
import { $, el, fillTable, notice, ready, showError, showFieldErrors, clearFieldErrors } from './dom.js';
import { allowed, startShell } from './shell.js';

const ORG = '/api/auth/organization';
let session = null;

async function remove(team) {
  if (!window.confirm(`Remove the team ${team.name}? Its conversations stay readable by their creators, owners and admins.`)) return;
  const answer = await api('POST', `${ORG}/remove-team`, { teamId: team.id });
  if (!answer.ok) { showError(answer.error); return; }
  notice(`Removed the team ${team.name}.`, 'success');
  await load();
}

function teamRow(team, members) {
  return el('tr', { 'data-team-id': team.id, 'data-name': team.name },
    el('td', { text: team.name }), el('td', { text: members === null ? '—' : String(members) }),
    el('td', {}, allowed('matrix:team:delete', session)
      ? el('button', { type: 'button', class: 'danger remove', onclick: () => remove(team) }, 'Remove') : ''));
}

async function load() {
  const answer = await api('GET', `${ORG}/list-teams`);
  if (!answer.ok) { showError(answer.error); return false; }
  const counts = await Promise.all(answer.data.map(async (team) => {
    const listed = await api('GET', `${ORG}/list-team-members?teamId=${encodeURIComponent(team.id)}`);
    return listed.ok ? listed.data.length : null;
  }));
  fillTable($('#teams'), null, answer.data.map((team, i) => ({ team, members: counts[i] })),
    ({ team, members }) => teamRow(team, members));
  return true;
}

export async function start() {
  session = await startShell();
  if (!session) return;
  if (!(await load())) return;
  const form = $('#new-team');
  if (form) {
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      const answer = await api('POST', `${ORG}/create-team`, { name: $('#team-name').value.trim() });
      if (!answer.ok) {
        if (answer.status === 400 && answer.error.fields) showFieldErrors(form, answer.error, 'team-'); else showError(answer.error);
        return;
      }
      clearFieldErrors(form);
      form.reset();
      notice(`Created the team ${answer.data.name}.`, 'success');
      await load();
    });
  }
  ready();
}
