// Admin › Audit log: GET /api/v1/admin/audit with its filters (from the URL) and keyset pages.
import { api, query } from './api.js';
import { $, display, el, fillTable, ready, showError, showFieldErrors, when } from './dom.js';
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
  const cursors = [null];
  let index = 0;
  let next = null;
  async function load() {
    const answer = await api('GET', `/api/v1/admin/audit${query({ ...wanted, limit: 50, cursor: cursors[index] })}`);
    if (!answer.ok) {
      if (answer.status === 400) showFieldErrors(form, answer.error, 'audit-'); else showError(answer.error);
      ready();
      return;
    }
    fillTable($('#audit'), null, answer.data.data, (row) => el('tr', {}, COLUMNS.map((c) =>
      el('td', { text: c === 'occurred_at' ? when(row[c]) : display(row[c]) }))));
    next = answer.data.nextCursor;
    $('#next-page').disabled = !next;
    $('#prev-page').disabled = index === 0;
    $('#page-number').textContent = `Page ${index + 1}`;
    ready();
  }
  $('#next-page').addEventListener('click', () => { cursors[index + 1] = next; index += 1; load(); });
  $('#prev-page').addEventListener('click', () => { index = Math.max(0, index - 1); load(); });
  await load();
}
