// A signed-in user without an active org: switch to one of theirs, or create one.
import { api } from './api.js';
import { $, el, notice, ready, showFieldErrors } from './dom.js';
import { startShell } from './shell.js';

async function open(orgId) {
  const answer = await api('POST', '/api/auth/organization/set-active', { organizationId: orgId });
  if (!answer.ok) { notice(answer.error.message, 'error'); return; }
  location.assign('/');
}

export async function start() {
  const session = await startShell({ needsOrg: false });
  if (!session) return;
  const list = $('#my-orgs');
  for (const org of session.orgs || []) {
    list.append(el('li', {}, el('button', { type: 'button', onclick: () => open(org.id) }, `Open ${org.name}`)));
  }
  const form = $('#create-org');
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const body = { name: $('#org-name-input').value, slug: $('#org-slug').value };
    const answer = await api('POST', '/api/auth/organization/create', body);
    if (!answer.ok) {
      showFieldErrors(form, { ...answer.error, fields: Object.fromEntries(Object.entries(answer.error.fields)
        .map(([k, v]) => [k === 'name' ? 'org-name-input' : `org-${k}`, v])) });
      return;
    }
    await open(answer.data.id);
  });
  ready();
}
