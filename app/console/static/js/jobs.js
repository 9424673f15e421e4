// Jobs: queue one (the kinds the API offers), the org's jobs with status and progress, cancel and retry,
// and the recurring ones (GET /api/v1/jobs?scheduled=true). Refreshed while any job is still to finish.
import { api, query } from './api.js';
import { $, $all, el, fillTable, notice, ready, showError, showFieldErrors, clearFieldErrors, when } from './dom.js';
import { allowed, startShell } from './shell.js';

const REFRESH_MS = 1500;
const LIVE = ['queued', 'running'];
let session = null;
let timer = null;
let wanted = {};  // the list's filters, from the URL (read once: a refresh never resets a select being changed)

// Running, or queued for a time already come: a worker is about to change it.
export function due(job, aheadMs = 0) {
  return job.status === 'running'
    || (job.status === 'queued' && new Date(job.runAfter) <= new Date(Date.now() + aheadMs));
}

export function progressText(job) {
  const { done, total, message } = job.progress;
  const count = total === null || total === undefined ? (done ? `${done}` : '') : `${done}/${total}`;
  return [count, message].filter(Boolean).join(' · ');
}

// Cancel (queued or running) and retry (dead or canceled), for the roles the matrix lets update jobs.
export function jobActions(job, who, after) {
  if (!allowed('matrix:job:update', who)) return [];
  const act = async (verb) => {
    const answer = await api('POST', `/api/v1/jobs/${encodeURIComponent(job.id)}/${verb}`);
    if (!answer.ok) { showError(answer.error); return; }
    notice(`${verb === 'cancel' ? 'Canceled' : 'Queued again'}: ${job.kind} ${job.id.slice(0, 8)}.`, 'success');
    await after();
  };
  const buttons = [];
  if (LIVE.includes(job.status)) {
    buttons.push(el('button', { type: 'button', class: 'danger cancel', onclick: () => act('cancel') }, 'Cancel'));
  }
  if (['dead', 'canceled'].includes(job.status)) {
    buttons.push(el('button', { type: 'button', class: 'secondary retry', onclick: () => act('retry') }, 'Retry'));
  }
  return buttons;
}

function link(job) {
  return el('a', { href: `/jobs/${encodeURIComponent(job.id)}`, text: job.id.slice(0, 8) });
}

function jobRow(job) {
  return el('tr', { 'data-job-id': job.id, 'data-status': job.status },
    el('td', {}, link(job)), el('td', { text: job.kind }), el('td', { class: 'job-status', text: job.status }),
    el('td', { class: 'job-progress', text: progressText(job) }),
    el('td', { text: `${job.attempts}/${job.maxAttempts}` }), el('td', { text: when(job.createdAt) }),
    el('td', { text: when(job.finishedAt) }), el('td', {}, jobActions(job, session, refresh)));
}

function scheduleRow(job) {
  const next = job.status === 'queued' ? when(job.runAfter) : '';
  return el('tr', { 'data-job-id': job.id, 'data-status': job.status },
    el('td', {}, link(job)), el('td', { text: job.kind }), el('td', {}, el('code', { text: job.schedule })),
    el('td', { class: 'job-status', text: job.status }), el('td', { text: next }),
    el('td', { text: when(job.finishedAt) }), el('td', {}, jobActions(job, session, refresh)));
}

function filters() {
  const found = {};
  for (const [name, value] of new URLSearchParams(location.search)) {
    const control = $('#job-filters').elements.namedItem(name);
    if (control && value) { control.value = value; found[name] = value; }
  }
  return found;
}

async function refresh() {
  clearTimeout(timer);
  const [jobs, schedules] = await Promise.all([
    api('GET', `/api/v1/jobs${query({ ...wanted, limit: 50 })}`),
    api('GET', `/api/v1/jobs${query({ scheduled: 'true', limit: 100 })}`),
  ]);
  if (!jobs.ok) { showError(jobs.error); return false; }
  if (!schedules.ok) { showError(schedules.error); return false; }
  fillTable($('#jobs'), null, jobs.data.data, jobRow);
  fillTable($('#schedules'), null, schedules.data.data, scheduleRow);
  $('#updated').textContent = `Updated ${new Date().toLocaleTimeString()}`;
  document.body.dataset.refreshes = String(Number(document.body.dataset.refreshes || 0) + 1);
  // Refresh while some job runs or is due; a recurring job waiting for its next time does not count.
  if ([...jobs.data.data, ...schedules.data.data].some((job) => due(job))) timer = setTimeout(refresh, REFRESH_MS);
  return true;
}

function kindFields(kind) {
  for (const fieldset of $all('#queue .kind-fields')) fieldset.hidden = fieldset.dataset.kind !== kind;
}

function payloadOf(kind) {
  const payload = {};
  for (const input of $all(`#queue .kind-fields[data-kind="${CSS.escape(kind)}"] [data-payload]`)) {
    const raw = input.value.trim();
    if (raw === '') continue;
    if (input.dataset.list) payload[input.dataset.payload] = raw.split(',').map((t) => t.trim()).filter(Boolean);
    else if (input.dataset.int) payload[input.dataset.payload] = /^-?\d+$/.test(raw) ? Number(raw) : raw;
    else payload[input.dataset.payload] = input.value;
  }
  return payload;
}

function queueForm() {
  const form = $('#queue');
  if (!form) return;  // removed: this role may not queue jobs
  const kind = $('#job-kind');
  kind.addEventListener('change', () => { clearFieldErrors(form); kindFields(kind.value); });
  kindFields(kind.value);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const body = { kind: kind.value, payload: payloadOf(kind.value) };
    const schedule = $('#job-schedule').value.trim();
    if (schedule) body.schedule = schedule;
    const attempts = $('#job-maxAttempts').value.trim();
    if (attempts) body.maxAttempts = /^\d+$/.test(attempts) ? Number(attempts) : attempts;
    const answer = await api('POST', '/api/v1/jobs', body);
    if (!answer.ok) {
      if (answer.status !== 400) { showError(answer.error); return; }
      // Payload fields sit in the kind's own fieldset: payload.<name> -> payload.<name>-<kind>.
      const fields = Object.fromEntries(Object.entries(answer.error.fields)
        .map(([name, message]) => [name.startsWith('payload.') ? `${name}-${kind.value}` : name, message]));
      showFieldErrors(form, { ...answer.error, fields }, 'job-');
      return;
    }
    clearFieldErrors(form);
    form.reset();
    kindFields(kind.value);
    const job = answer.data;
    notice(job.schedule ? `Scheduled ${job.kind} (${job.schedule}); first run ${when(job.runAfter)}.`
      : `Queued ${job.kind}.`, 'success');
    $('#notice p').append(' ', el('a', { href: `/jobs/${encodeURIComponent(job.id)}`, id: 'queued-job', text: 'Open the job' }));
    await refresh();
  });
}

export async function start() {
  session = await startShell();
  if (!session) return;
  wanted = filters();
  if (!(await refresh())) return;
  queueForm();
  ready();
}
