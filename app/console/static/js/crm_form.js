// Create and detail pages of a CRM row: the API validates, and its field messages show beside the fields.
import { api } from './api.js';
import { $, $all, el, notice, ready, showError, showFieldErrors, clearFieldErrors, display, when } from './dom.js';
import { startShell } from './shell.js';

function toInput(control, value) {
  if (control.type === 'checkbox') { control.checked = Boolean(value); return; }
  if (value === null || value === undefined) { control.value = ''; return; }
  if (control.dataset.kind === 'datetime') {
    const date = new Date(value);
    const local = new Date(date.getTime() - date.getTimezoneOffset() * 60000);
    control.value = local.toISOString().slice(0, 16);
    return;
  }
  control.value = String(value);
}

function fromInput(control) {
  if (control.type === 'checkbox') return control.checked;
  const raw = control.value.trim();
  if (raw === '') return null;
  if (control.dataset.kind === 'int') return /^-?\d+$/.test(raw) ? Number(raw) : raw;
  if (control.dataset.kind === 'datetime') {
    const date = new Date(raw);
    return Number.isNaN(date.getTime()) ? raw : date.toISOString();
  }
  return raw;
}

export async function start(page) {
  const session = await startShell();
  if (!session) return;
  const form = $('#record');
  const entity = form.dataset.entity;
  const rowId = form.dataset.rowId;
  const controls = $all('[data-kind]', form);
  let original = {};

  function show(row) {
    original = row;
    for (const control of controls) toInput(control, row[control.name]);
    const meta = $('#meta');
    meta.replaceChildren();
    for (const [label, value] of [['id', row.id], ['created', when(row.created_at)], ['updated', when(row.updated_at)]]) {
      meta.append(el('div', {}, el('dt', { text: label }), el('dd', { text: display(value) })));
    }
    meta.hidden = false;
  }

  if (page === 'crm-detail') {
    const answer = await api('GET', `/api/v1/${entity}/${encodeURIComponent(rowId)}`);
    if (!answer.ok) { showError(answer.error); ready(); return; }
    show(answer.data);
    $('#delete').addEventListener('click', async () => {
      if (!window.confirm('Delete this row? This cannot be undone.')) return;
      const gone = await api('DELETE', `/api/v1/${entity}/${encodeURIComponent(rowId)}`);
      if (!gone.ok) { showError(gone.error); return; }
      location.assign(`/crm/${entity}`);
    });
  }

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const body = {};
    for (const control of controls) {
      const value = fromInput(control);
      if (page === 'crm-new') { if (value !== null && value !== false) body[control.name] = value; continue; }
      const before = original[control.name] === undefined ? null : original[control.name];
      if (control.type === 'checkbox' ? value !== Boolean(before) : control.value.trim() !== unchanged(control, before)) {
        body[control.name] = value;
      }
    }
    const answer = page === 'crm-new'
      ? await api('POST', `/api/v1/${entity}`, body)
      : await api('PATCH', `/api/v1/${entity}/${encodeURIComponent(rowId)}`, body);
    if (!answer.ok) {
      if (answer.status === 400) showFieldErrors(form, answer.error); else showError(answer.error);
      return;
    }
    if (page === 'crm-new') { location.assign(`/crm/${entity}/${encodeURIComponent(answer.data.id)}`); return; }
    clearFieldErrors(form);
    show(answer.data);
    notice('Saved.', 'success');
  });
  ready();
}

// The text a control showed for the stored value, to send only what the user changed.
function unchanged(control, value) {
  const copy = control.cloneNode(false);
  toInput(copy, value);
  return copy.value.trim();
}
