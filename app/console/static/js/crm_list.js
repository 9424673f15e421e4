// A CRM table: keyset pages (the API's nextCursor), the declared sort keys and filters, from the URL.
import { api, query } from './api.js';
import { $, display, el, fillTable, showError, when } from './dom.js';
import { keysetPages } from './pages.js';
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

  function row(item) {
    const href = `/crm/${entity}/${encodeURIComponent(item.id)}`;
    return el('tr', {}, columns.map((column, i) => el('td', {},
      i === 0 ? el('a', { href, text: display(item[column]) || '(open)' })
        : (column.endsWith('_at') ? when(item[column]) : display(item[column])))));
  }

  await keysetPages(async (cursor) => {
    const answer = await api('GET', `/api/v1/${entity}${query({ ...wanted, limit: PAGE_SIZE, cursor })}`);
    if (!answer.ok) { showError(answer.error); return undefined; }
    fillTable($('#rows'), null, answer.data.data, row);
    return answer.data.nextCursor ?? null;
  });
}
