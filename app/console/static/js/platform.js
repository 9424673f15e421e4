// Platform admins: every organization with member counts; one organization's members, invitations, stats.
import { api } from './api.js';
import { $, el, fillTable, ready, showError, statsList, when } from './dom.js';
import { startShell } from './shell.js';

async function list() {
  const answer = await api('GET', '/api/v1/admin/organizations');
  if (!answer.ok) { showError(answer.error); return; }
  fillTable($('#orgs'), null, answer.data.data, (org) => el('tr', {},
    el('td', {}, el('a', { href: `/platform/organizations/${encodeURIComponent(org.id)}`, text: org.name })),
    el('td', { text: org.slug }), el('td', { class: 'number', text: org.memberCount }), el('td', { text: when(org.createdAt) })));
  ready();
}

async function detail(orgId) {
  const [org, stats] = await Promise.all([
    api('GET', `/api/v1/admin/organizations/${encodeURIComponent(orgId)}`),
    api('GET', `/api/v1/admin/organizations/${encodeURIComponent(orgId)}/stats`),
  ]);
  if (!org.ok) { showError(org.error); return; }
  $('#org-title').textContent = `${org.data.name} (${org.data.slug})`;
  if (stats.ok) statsList($('#org-stats'), [['members', stats.data.members], ['conversations', stats.data.conversations], ['agent queries', stats.data.queries]]);
  fillTable($('#org-members'), null, org.data.members, (m) => el('tr', {},
    el('td', { text: m.user.name }), el('td', { text: m.user.email }), el('td', { text: m.role }), el('td', { text: when(m.createdAt) })));
  fillTable($('#org-invitations'), null, org.data.invitations, (i) => el('tr', {},
    el('td', { text: i.email }), el('td', { text: i.role }), el('td', { text: i.status }), el('td', { text: when(i.expiresAt) })));
  ready();
}

export async function start(page) {
  const session = await startShell({ needsOrg: false });
  if (!session) return;
  if (page === 'platform-org') await detail($('#platform').dataset.orgId); else await list();
}
