// Ask: a question for the analytics agent (POST /api/v1/conversations/<id>/ask, streamed as server-sent events),
// or SQL through the gateway (POST /api/v1/query); the table and chart of either, the org's conversation history.
import { api, errorOf, query } from './api.js';
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

function setMode(mode) {
  const ask = mode === 'ask';
  $('#question-form').hidden = !ask;
  $('#ask-form').hidden = ask;  // SQL mode's form keeps its historical id
  $('#mode-ask').setAttribute('aria-selected', String(ask));
  $('#mode-sql').setAttribute('aria-selected', String(!ask));
}

async function agentNotice() {
  // Without a model server, Ask says which settings to set and SQL mode is the one offered.
  const answer = await api('GET', '/api/v1/agent');
  const box = $('#agent-notice');
  box.replaceChildren();
  if (answer.ok && answer.data.configured) return true;
  const missing = answer.ok ? answer.data.missingSettings : ['ATLAS_AGENT_BASE_URL', 'ATLAS_AGENT_MODEL'];
  box.append(el('p', { class: 'notice warning', id: 'agent-off', role: 'status' },
    'Questions in plain language need a model server: an operator sets ',
    ...missing.flatMap((name, i) => [i ? ' and ' : '', el('code', { text: name })]),
    ' (see docs/agent.md). SQL mode works meanwhile.'));
  $('#ask-button').disabled = true;
  setMode('sql');
  return false;
}

function showTable(columns, rows, rowCount, truncated, cached, chart) {
  const names = columns.map((c) => c.name);
  fillTable($('#result-table'), names, rows, (row) => el('tr', {}, row.map((v) => el('td', { text: display(v) }))));
  const more = truncated ? ' (truncated)' : '';
  $('#result-summary').textContent = `${rowCount} row${rowCount === 1 ? '' : 's'}${more}${cached ? ' · from cache' : ''}`;
  const figure = $('#chart');
  for (const old of figure.querySelectorAll('svg')) old.remove();
  let shape = chartable(columns);
  if (chart && (chart.type === 'bar' || chart.type === 'line')) {
    shape = { label: names.indexOf(chart.label), value: names.indexOf(chart.value) };
    if (shape.label < 0 || shape.value < 0) shape = null;
  }
  figure.hidden = !shape || !rows.length;
  if (shape && rows.length) {
    $('#chart-caption').textContent = `${names[shape.value]} by ${names[shape.label]}`;
    figure.prepend(barChart(columns, rows, shape));
  }
  $('#result').hidden = false;
}

async function remember(sql, reply) {
  // SQL mode: the query and its outcome join the org's shared history; a failure here never hides the answer.
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
  conversationId = answer.data.id;
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

function refuse(error, status) {
  $('#refusal').replaceChildren(el('p', { class: 'notice error', role: 'alert', id: 'refusal-message' },
    el('strong', { text: status === 429 ? 'Not now: ' : 'Refused: ' }), error.message,
    el('span', { class: 'code-name', text: ` (${error.code})` })));
}

function step(text, kind = '', code = null) {
  const item = el('li', { class: kind }, text);
  if (code) item.append(' ', el('code', { text: code }));
  $('#steps').append(item);
}

// One event of the ask's stream, shown as it comes.
function onEvent(name, data) {
  if (name === 'step') step(`Step ${data.step}: asking the model…`);
  else if (name === 'tool') step(`${data.tool}`, 'tool', data.tool === 'executeSQL' ? data.arguments.sql : JSON.stringify(data.arguments));
  else if (name === 'rows') step(`${data.rowCount} row${data.rowCount === 1 ? '' : 's'}${data.truncated ? ' (truncated)' : ''}`, 'rows');
  else if (name === 'refused') step(`Refused (${data.code}): ${data.message}`, 'refused');
  else if (name === 'stopped') step(`Stopped (${data.code}): ${data.message}`, 'stopped');
  else if (name === 'error') step(`Failed (${data.code}): ${data.message}`, 'refused');
  else if (name === 'answer') {
    $('#answer-text').textContent = data.text;
    $('#answer-sql').textContent = data.sql || '(no query ran)';
    $('#answer').hidden = false;
    if (data.columns && data.columns.length) showTable(data.columns, data.rows, data.rowCount, data.truncated, false, data.chart);
  }
}

async function readEvents(response) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let cut;
    while ((cut = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      const name = /^event: (.+)$/m.exec(block);
      const data = /^data: (.+)$/m.exec(block);
      if (name && data) onEvent(name[1], JSON.parse(data[1]));
    }
  }
}

async function askQuestion(question) {
  $('#refusal').replaceChildren();
  $('#steps').replaceChildren();
  $('#answer').hidden = true;
  $('#result').hidden = true;
  if (!conversationId) {
    const made = await api('POST', '/api/v1/conversations', { title: question.slice(0, 120) });
    if (!made.ok) { refuse(made.error, made.status); return; }
    conversationId = made.data.id;
  }
  $('#progress').hidden = false;
  let response;
  try {
    response = await fetch(`/api/v1/conversations/${conversationId}/ask`, {
      method: 'POST', credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json', Accept: 'text/event-stream' },
      body: JSON.stringify({ question }) });
  } catch (err) {
    refuse({ code: 'network', message: 'the server could not be reached' }, 0);
    return;
  }
  if (!response.ok) {
    let body = null;
    try { body = await response.json(); } catch (err) { body = null; }
    refuse(errorOf(body, response.status), response.status);
    return;
  }
  await readEvents(response);
}

async function runSql(sql) {
  $('#refusal').replaceChildren();
  $('#progress').hidden = true;
  $('#answer').hidden = true;
  const answer = await api('POST', '/api/v1/query', { sql });
  if (answer.ok) {
    showTable(answer.data.columns, answer.data.rows, answer.data.rowCount, answer.data.truncated, answer.data.cached, null);
    await remember(sql, `${answer.data.rowCount} rows: ${answer.data.columns.map((c) => c.name).join(', ')}`);
  } else if (answer.status === 401 || answer.status === 403) {
    showError(answer.error);
    return;
  } else {
    $('#result').hidden = true;
    refuse(answer.error, answer.status);
    await remember(sql, `refused (${answer.error.code}): ${answer.error.message}`);
  }
}

export async function start() {
  const session = await startShell();
  if (!session) return;
  $('#mode-ask').addEventListener('click', () => setMode('ask'));
  $('#mode-sql').addEventListener('click', () => setMode('sql'));
  await Promise.all([semanticNotice(session), history(), agentNotice()]);
  $('#question-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    document.body.dataset.ready = 'false';
    await askQuestion($('#question').value);
    await history();
    ready();
  });
  $('#ask-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    document.body.dataset.ready = 'false';
    await runSql($('#sql').value);
    await history();
    ready();
  });
  ready();
}
