// Admin › Semantic layer: the org's entities and a YAML editor; validation errors are shown at their line.
import { api } from './api.js';
import { $, el, notice, ready, showError, clearFieldErrors } from './dom.js';
import { startShell } from './shell.js';

const LINE = /\(line (\d+)/;

function gutter(errorLines = new Set()) {
  const count = Math.max(1, $('#yaml').value.split('\n').length);
  const lines = [];
  for (let i = 1; i <= count; i += 1) {
    lines.push(el('span', { class: errorLines.has(i) ? 'line error-line' : 'line', 'data-line': i, text: String(i) }), '\n');
  }
  $('#gutter').replaceChildren(...lines);
  $('#gutter').scrollTop = $('#yaml').scrollTop;
}

function goToLine(line) {
  const area = $('#yaml');
  const lines = area.value.split('\n');
  const start = lines.slice(0, line - 1).reduce((n, text) => n + text.length + 1, 0);
  area.focus();
  area.setSelectionRange(start, start + (lines[line - 1] || '').length);
}

function showYamlErrors(error) {
  const list = $('#yaml-errors');
  list.replaceChildren();
  const lines = new Set();
  const fields = Object.entries(error.fields || {});
  if (!fields.length) fields.push(['yaml', error.message]);
  for (const [field, message] of fields) {
    if (field === 'name') {
      const slot = $('#err-entity-name');
      slot.textContent = String(message);
      slot.hidden = false;
      continue;
    }
    const match = LINE.exec(String(message));
    const line = match ? Number(match[1]) : null;
    if (line) lines.add(line);
    const text = `${line ? `Line ${line}: ` : ''}${field}: ${String(message).replace(/ \(line \d+(, column \d+)?\)/, '')}`;
    list.append(el('li', { class: 'yaml-error', 'data-line': line || '' },
      line ? el('button', { type: 'button', class: 'link', onclick: () => goToLine(line) }, text) : text));
  }
  gutter(lines);
  notice(error.message, 'error');
}

async function loadList() {
  const answer = await api('GET', '/api/v1/admin/semantic/org/entities');
  if (!answer.ok) { showError(answer.error); return null; }
  const list = $('#entities');
  list.replaceChildren();
  if (!answer.data.data.length) {
    list.append(el('li', { id: 'no-entities', text: 'No entities yet: agent queries may read no table. Profile the datasource with atlas init --org <org id>, or write one here.' }));
  }
  for (const entity of answer.data.data) {
    list.append(el('li', {}, el('button', { type: 'button', class: 'link', 'data-entity': entity.name,
      onclick: () => edit(entity) }, entity.name), ` · v${entity.version}`));
  }
  return answer.data.data;
}

function edit(entity) {
  $('#entity-name').value = entity ? entity.name : '';
  $('#yaml').value = entity ? entity.yamlContent : 'table: \ndescription: \ndimensions:\n  - name: id\n    sql: id\n    type: uuid\n';
  $('#yaml-errors').replaceChildren();
  clearFieldErrors($('#entity-form'));
  notice('');
  gutter();
}

export async function start() {
  const session = await startShell();
  if (!session) return;
  const entities = await loadList();
  if (entities === null) return;
  edit(entities[0] || null);
  const area = $('#yaml');
  area.addEventListener('input', () => gutter());
  area.addEventListener('scroll', () => { $('#gutter').scrollTop = area.scrollTop; });
  $('#new-entity').addEventListener('click', () => { edit(null); $('#entity-name').focus(); });
  $('#entity-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    clearFieldErrors($('#entity-form'));
    const name = $('#entity-name').value.trim();
    const answer = await api('PUT', `/api/v1/admin/semantic/org/entities/${encodeURIComponent(name)}`, { yamlContent: area.value });
    if (!answer.ok) {
      if (answer.status === 400) showYamlErrors(answer.error); else showError(answer.error);
      return;
    }
    $('#yaml-errors').replaceChildren();
    gutter();
    notice(`Saved ${answer.data.name} (version ${answer.data.version}).`, 'success');
    await loadList();
  });
  $('#delete-entity').addEventListener('click', async () => {
    const name = $('#entity-name').value.trim();
    if (!name || !window.confirm(`Delete the entity ${name}?`)) return;
    const answer = await api('DELETE', `/api/v1/admin/semantic/org/entities/${encodeURIComponent(name)}`);
    if (!answer.ok) { showError(answer.error); return; }
    notice(`Deleted ${name}.`, 'success');
    edit((await loadList() || [])[0] || null);
  });
  ready();
}
