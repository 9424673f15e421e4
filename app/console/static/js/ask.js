// Ask: agent SQL through the gateway (POST /api/v1/query), its table and chart, the org's conversation history.
import { api, query } from './api.js';
import { $, display, el, fillTable, notice, ready, showError, when } from './dom.js';
import { activeOrg, startShell } from './shell.js';
import { barChart, chartable } from './chart.js';

let conversationId = null;

async function semanticNotice(session) {
  const answer = await api('GET', '/api/v1/admin/semantic/org/entities');
  const box = $('#semantic-notice');
  box.replaceChildren();
  if (answer.ok && Array.isArray(answer.data.data) && answer.data.data.length === 0) {
    box.append(el('p', { class: 'notice warning', id: 'no-entities', role: 'alert' },
      'This organization has no semantic entities yet, so agent queries may read no table. ',
      'Fix: an admin profiles the datasource with ', el('code', { text: `atlas init --org ${activeOrg(session)}` }),
      ', or adds entities under ', el('a', { href: '/admin/semantic', text: 'Admin › Semantic layer' }), '.'));
  }
}

function showResult(result) {
  const names = result.columns.map((c) => c.name);
  fillTable($('#result-table'), names, result.rows, (row) => el('tr', {}, row.map((v) => el('td', { text: display(v) }))));
  const more = result.truncated ? ' (truncated at the row limit)' : '';
  $('#result-summary').textContent = `${result.rowCount} row${result.rowCount === 1 ? '' : 's'}${more}${result.cached ? ' · from cache' : ''}`;
  const figure = $('#chart');
  for (const old of figure.querySelectorAll('svg')) old.remove();
  const shape = chartable(result.columns);
  figure.hidden = !shape || !result.rows.length;
  if (shape && result.rows.length) {
    $('#chart-caption').textContent = `${names[shape.value]} by ${names[shape.label]}`;
    figure.prepend(barChart(result.columns, result.rows, shape));
  }
  $('#result').hidden = false;
}

async function remember(sql, reply) {
  // The question and its outcome join the org's shared history; a failure here never hides the answer.
  if (!conversationId) {
    const made = await api('POST', '/api/v1/conversations', { title: sql.slice(0, 120) });
    if (!made.ok) return;
    conversationId = made.data.id;
  }
  await api('POST', `/api/v1/conversations/${conversationId}/messages`, { role: 'user', content: sql });
  await api('POST', `/api/v1/conversations/${conversationId}/messages`, { role: 'assistant', content: reply });
}

async function openConversation(id) {
  const answer = await api('GET', `/api/v1/conversations/${encodeURIComponent(id)}`);
  const box = $('#conversation');
  if (!answer.ok) { notice(answer.error.message, 'error'); return; }
  box.replaceChildren(el('h3', { text: answer.data.title }),
    el('ol', { class: 'messages' }, answer.data.messages.map((m) => el('li', { class: `message ${m.role}` },
      el('span', { class: 'message-role', text: `${m.role} · ${when(m.created_at)}` }),
      el('pre', { class: 'code', text: m.content })))));
}

async function history() {
  const answer = await api('GET', `/api/v1/conversations${query({ limit: 20 })}`);
  const list = $('#conversations');
  list.replaceChildren();
  if (!answer.ok) { list.append(el('li', { text: answer.error.message })); return; }
  if (!answer.data.data.length) list.append(el('li', { text: 'No conversations yet.' }));
  for (const c of answer.data.data) {
    list.append(el('li', {}, el('button', { type: 'button', class: 'link', onclick: () => openConversation(c.id) },
      c.title), ` · ${when(c.updated_at)}`));
  }
}

export async function start() {
  const session = await startShell();
  if (!session) return;
  await Promise.all([semanticNotice(session), history()]);
  $('#ask-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    const sql = $('#sql').value;
    const refusal = $('#refusal');
    refusal.replaceChildren();
    const answer = await api('POST', '/api/v1/query', { sql });
    if (answer.ok) {
      showResult(answer.data);
      await remember(sql, `${answer.data.rowCount} rows: ${answer.data.columns.map((c) => c.name).join(', ')}`);
    } else if (answer.status === 401 || answer.status === 403) {
      showError(answer.error);
      return;
    } else {
      $('#result').hidden = true;
      refusal.append(el('p', { class: 'notice error', role: 'alert', id: 'refusal-message' },
        el('strong', { text: answer.status === 429 ? 'Not now: ' : 'Refused: ' }), answer.error.message,
        el('span', { class: 'code-name', text: ` (${answer.error.code})` })));
      await remember(sql, `refused (${answer.error.code}): ${answer.error.message}`);
    }
    await history();
    ready();
  });
  ready();
}
