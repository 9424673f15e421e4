// Admin › Members & invitations: list-members, invite-member, update-member-role, remove-member.
import { api } from './api.js';
import { $, el, fillTable, notice, ready, showError, showFieldErrors, clearFieldErrors, when } from './dom.js';
import { activeOrg, startShell } from './shell.js';

const ROLES = ['member', 'admin', 'owner'];
let session = null;

function link(id) { return `${location.origin}/accept-invitation/${id}`; }

async function changeRole(member, select) {
  const answer = await api('POST', '/api/auth/organization/update-member-role',
    { memberId: member.id, role: select.value, organizationId: activeOrg(session) });
  if (!answer.ok) { notice(answer.error.message, 'error'); select.value = member.role; return; }
  notice(`${member.user.email} is now ${answer.data.role}.`, 'success');
  await load();
}

async function remove(member) {
  if (!window.confirm(`Remove ${member.user.email} from this organization?`)) return;
  const answer = await api('POST', '/api/auth/organization/remove-member',
    { memberIdOrEmail: member.id, organizationId: activeOrg(session) });
  if (!answer.ok) { notice(answer.error.message, 'error'); return; }
  notice(`${member.user.email} was removed.`, 'success');
  await load();
}

function memberRow(member) {
  const id = `role-${member.id}`;
  const select = el('select', { id, 'aria-label': `Role of ${member.user.email}` },
    ROLES.map((r) => el('option', { value: r, selected: r === member.role, text: r })));
  return el('tr', { 'data-email': member.user.email },
    el('td', { text: member.user.name }), el('td', { text: member.user.email }),
    el('td', {}, select),
    el('td', {},
      el('button', { type: 'button', class: 'secondary change-role', onclick: () => changeRole(member, select) }, 'Change role'),
      ' ',
      el('button', { type: 'button', class: 'danger', onclick: () => remove(member) }, 'Remove')));
}

async function load() {
  const members = await api('GET', '/api/auth/organization/list-members');
  if (!members.ok) { showError(members.error); return false; }
  fillTable($('#members'), null, members.data.members, memberRow);
  const full = await api('GET', '/api/auth/organization/get-full-organization');
  const invitations = full.ok ? full.data.invitations || [] : [];
  fillTable($('#invitations'), null, invitations, (i) => el('tr', { 'data-email': i.email },
    el('td', { text: i.email }), el('td', { text: i.role }), el('td', { text: i.status }),
    el('td', { text: when(i.expiresAt) }), el('td', {}, i.status === 'pending' ? el('code', { text: link(i.id) }) : '')));
  return true;
}

export async function start() {
  session = await startShell();
  if (!session) return;
  if (!(await load())) return;
  const form = $('#invite');
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const body = { email: $('#invite-email').value.trim(), role: $('#invite-role').value, organizationId: activeOrg(session) };
    const answer = await api('POST', '/api/auth/organization/invite-member', body);
    if (!answer.ok) { showFieldErrors(form, answer.error, 'invite-'); return; }
    clearFieldErrors(form);
    form.reset();
    const shown = $('#invite-link');
    shown.replaceChildren(`Invitation for ${answer.data.email} created. No mail is sent: share this link: `,
      el('code', { id: 'invitation-url', text: link(answer.data.id) }));
    shown.hidden = false;
    notice(`Invited ${answer.data.email} as ${answer.data.role}.`, 'success');
    await load();
  });
  ready();
}
