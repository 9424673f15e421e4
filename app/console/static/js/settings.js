// Admin › Settings: the org's agent query limits (GET/PATCH /api/v1/settings) within the platform bounds.
import { api } from './api.js';
import { $, $all, notice, ready, showError, showFieldErrors, clearFieldErrors } from './dom.js';
import { startShell } from './shell.js';

function show(data) {
  for (const input of $all('#settings input')) {
    const value = data.settings[input.name];
    input.value = value === null || value === undefined ? '' : String(value);
    input.placeholder = String(data.effective[input.name]);
    const bounds = data.bounds[input.name];
    if (bounds) {
      input.min = bounds.min;
      input.max = bounds.max;
      $(`#bounds-${input.name}`).textContent = `between ${bounds.min} and ${bounds.max}; in effect: ${data.effective[input.name]}`;
    }
  }
}

export async function start() {
  const session = await startShell();
  if (!session) return;
  const answer = await api('GET', '/api/v1/settings');
  if (!answer.ok) { showError(answer.error); return; }
  let current = answer.data;
  show(current);
  const form = $('#settings');
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const body = {};
    for (const input of $all('#settings input')) {
      const raw = input.value.trim();
      const value = raw === '' ? null : (/^-?\d+$/.test(raw) ? Number(raw) : raw);
      if (value !== current.settings[input.name]) body[input.name] = value;
    }
    if (!Object.keys(body).length) { notice('Nothing changed.'); return; }
    const saved = await api('PATCH', '/api/v1/settings', body);
    if (!saved.ok) {
      if (saved.status === 400) showFieldErrors(form, saved.error); else showError(saved.error);
      return;
    }
    clearFieldErrors(form);
    current = saved.data;
    show(current);
    notice('Settings saved.', 'success');
  });
  ready();
}
