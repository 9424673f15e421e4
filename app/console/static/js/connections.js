// Admin › Connections: the org's datasources (datasources.js) and the pool numbers of
// GET /api/v1/admin/connections, refreshed every 2 seconds.
import { api } from './api.js';
import { startDatasources } from './datasources.js';
import { $, display, el, fillTable, ready, showError, statsList } from './dom.js';
import { startShell } from './shell.js';

const ORG_COLUMNS = ['org_id', 'datasource', 'state', 'max_connections', 'active', 'idle', 'waiting',
  'open_connections', 'queries', 'errors', 'error_rate', 'drains', 'last_used'];
const BASE_COLUMNS = ['datasource', 'max_connections', 'active', 'idle', 'waiting', 'open_connections',
  'connections_opened', 'queries', 'errors', 'error_rate'];
const REFRESH_MS = 2000;

function cell(value, column) {
  if (column === 'drains' && Array.isArray(value)) return value.length;
  if (column === 'error_rate' && typeof value === 'number') return `${(value * 100).toFixed(1)} %`;
  return display(value);
}

function rows(columns) {
  return (item) => el('tr', {}, columns.map((c) => el('td', { 'data-column': c, text: cell(item[c], c) })));
}

function render(data) {
  statsList($('#summary'), [['scope', data.scope], ['mode', data.mode], ['per-org limits', data.per_org ? 'on' : 'off'],
    ...Object.entries(data.totals || {})]);
  const base = data.base || [];
  const baseColumns = base.length && Object.keys(base[0]).length <= 2 ? ['datasource', 'max_connections'] : BASE_COLUMNS;
  fillTable($('#org-pools'), ORG_COLUMNS, data.orgs || [], rows(ORG_COLUMNS));
  fillTable($('#base-pools'), baseColumns, base, rows(baseColumns));
  const drains = data.drains || [];
  const drainColumns = drains.length ? Object.keys(drains[0]) : ['org_id', 'datasource', 'at', 'reason'];
  fillTable($('#drains'), drainColumns, drains, rows(drainColumns));
  $('#updated').textContent = `Updated ${new Date().toLocaleTimeString()}`;
}

export async function start() {
  const session = await startShell({ needsOrg: false });
  if (!session) return;
  if (!(await startDatasources(session))) return;
  let timer = null;
  async function refresh() {
    const answer = await api('GET', '/api/v1/admin/connections');
    if (!answer.ok) { showError(answer.error); return; }
    render(answer.data);
    document.body.dataset.refreshes = String(Number(document.body.dataset.refreshes || 0) + 1);
    ready();
    if ($('#auto-refresh').checked) timer = setTimeout(refresh, REFRESH_MS);
  }
  $('#auto-refresh').addEventListener('change', () => {
    clearTimeout(timer);
    if ($('#auto-refresh').checked) refresh();
  });
  await refresh();
}
