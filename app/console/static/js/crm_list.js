// A CRM table: keyset pages (the API's nextCursor), the declared sort keys and filters, from the URL.
import { api, query } from './api.js';
import { $, display, el, fillTable, ready, showError, when } from './dom.js';
import { startShell } from './shell.js';

const PAGE_SIZE = 25;

export async function start() {
  const session = await startShell();
  if (!session) return;
  const form = $('#list-controls');
  const entity = form.dataset.entity;
  const columns = JSON.parse(form.dataset.columns);
  const params = new URLSearchParams(location.search);
  for (const [name, value] of params) {
    const control = form.elements.namedItem(name);
    if (control) control.value = value;
  }
  const wanted = {};
  for (const [name, value] of params) if (value !== '' && name !== 'cursor') wanted[name] = value;
  const cursors = [null];
  let index = 0;
  let next = null;

  function row(item) {
    const href = `/crm/${entity}/${encodeURIComponent(item.id)}`;
    return el('tr', {}, columns.map((column, i) => el('td', {},
      i === 0 ? el('a', { href, text: display(item[column]) || '(open)' })
        : (column.endsWith('_at') ? when(item[column]) : display(item[column])))));
  }

  async function load() {
    const answer = await api('GET', `/api/v1/${entity}${query({ ...wanted, limit: PAGE_SIZE, cursor: cursors[index] })}`);
    if (!answer.ok) { showError(answer.error); ready(); return; }
    fillTable($('#rows'), null, answer.data.data, row);
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
