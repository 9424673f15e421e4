// Admin › Audit log: GET /api/v1/admin/audit with its filters (from the URL) and keyset pages.
import { api, query } from './api.js';
import { $, display, el, fillTable, showError, showFieldErrors, when } from './dom.js';
import { keysetPages } from './pages.js';
import { startShell } from './shell.js';

const COLUMNS = ['occurred_at', 'action', 'entity', 'entity_id', 'outcome', 'actor_user_id', 'changed_fields'];

export async function start() {
  const session = await startShell();
  if (!session) return;
  const form = $('#audit-filters');
  const wanted = {};
  for (const [name, value] of new URLSearchParams(location.search)) {
    const control = form.elements.namedItem(name);
    if (control && value) { control.value = value; wanted[name] = value; }
  }
  await keysetPages(async (cursor) => {
    const answer = await api('GET', `/api/v1/admin/audit${query({ ...wanted, limit: 50, cursor })}`);
    if (!answer.ok) {
      if (answer.status === 400) showFieldErrors(form, answer.error, 'audit-'); else showError(answer.error);
      return undefined;
    }
    fillTable($('#audit'), null, answer.data.data, (row) => el('tr', {}, COLUMNS.map((c) =>
      el('td', { text: c === 'occurred_at' ? when(row[c]) : display(row[c]) }))));
    return answer.data.nextCursor ?? null;
  });
}
