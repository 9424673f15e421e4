// Admin › Cache: POST /api/v1/admin/cache/flush for this org (admins, owners) or every org (platform admins).
import { api } from './api.js';
import { $, notice, ready, showError, showForbidden } from './dom.js';
import { allowed, isPlatformAdmin, startShell } from './shell.js';

export async function start() {
  const session = await startShell({ needsOrg: false });
  if (!session) return;
  const orgScope = allowed('roles:admin,owner', session);
  if (!orgScope && !isPlatformAdmin(session)) {
    // This page reads nothing before its one write, so the refusal is shown before anything is sent.
    showForbidden({ message: "only an organization's admins and owners, or platform administrators, may flush the query cache" });
    return;
  }
  const scope = $('#scope');
  if (!orgScope) scope.querySelector('option[value="organization"]').remove();
  if (!isPlatformAdmin(session)) scope.querySelector('option[value="all"]').remove();
  $('#flush').addEventListener('submit', async (event) => {
    event.preventDefault();
    const answer = await api('POST', '/api/v1/admin/cache/flush', { scope: scope.value });
    if (!answer.ok) { showError(answer.error); return; }
    notice(`Flushed ${answer.data.flushed} cached result${answer.data.flushed === 1 ? '' : 's'} (${answer.data.scope}).`, 'success');
  });
  ready();
}
