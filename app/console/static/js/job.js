// One job: status, progress, payload, last error, result, a scheduled query's kept results; cancel and
// retry. Polled while the job is queued or running, so a person watches it finish.
import { api, query } from './api.js';
import { $, display, el, fillTable, ready, showError, statsList, when } from './dom.js';
import { startShell } from './shell.js';
import { due, jobActions, progressText } from './jobs.js';

const POLL_MS = 1000;
let session = null;
let timer = null;

function keptTable(kept) {
  const result = kept.result || {};
  const columns = (result.columns || []).map((c) => c.name);
  const table = el('table', { class: 'kept-result' }, el('caption', { text: `Kept ${when(kept.createdAt)}` }),
    el('thead'), el('tbody'));
  fillTable(table, columns, result.rows || [], (row) => el('tr', {}, row.map((v) => el('td', { text: display(v) }))));
  return el('div', { class: 'table-wrap' }, table);
}

async function keptResults(jobId) {
  const answer = await api('GET', `/api/v1/jobs/${encodeURIComponent(jobId)}/results${query({ limit: 5 })}`);
  const section = $('#kept-section');
  if (!answer.ok || !answer.data.data.length) { section.hidden = true; return; }
  const shown = answer.data.data;
  $('#kept-summary').textContent = `The latest ${shown.length} kept result${shown.length === 1 ? '' : 's'}, newest first.`;
  $('#kept').replaceChildren(...shown.map(keptTable));
  section.hidden = false;
}

function show(job) {
  statsList($('#job-meta'), [['kind', job.kind], ['status', job.status], ['attempts', `${job.attempts}/${job.maxAttempts}`],
    ['schedule', job.schedule || 'once'], [job.status === 'queued' ? 'runs after' : 'was due', when(job.runAfter)],
    ['started', when(job.startedAt)], ['finished', when(job.finishedAt)], ['created', when(job.createdAt)],
    ['created by', job.createdBy], ['API key', job.apiKeyId || 'none'], ['id', job.id]]);
  document.body.dataset.jobStatus = job.status;
  const bar = $('#job-progress');
  const { done, total } = job.progress;
  if (total) { bar.max = total; bar.value = done; } else if (job.status === 'succeeded') { bar.max = 1; bar.value = 1; } else bar.removeAttribute('value');
  $('#job-progress-text').textContent = progressText(job) || (job.status === 'queued' ? 'waiting for a worker' : '');
  $('#job-actions').replaceChildren(...jobActions(job, session, load));
  $('#last-error-section').hidden = !job.lastError;
  $('#last-error').textContent = job.lastError || '';
  $('#job-payload').textContent = JSON.stringify(job.payload, null, 2);
  $('#job-result-section').hidden = job.result === null || job.result === undefined;
  $('#job-result').textContent = job.result === null || job.result === undefined ? '' : JSON.stringify(job.result, null, 2);
  $('#updated').textContent = `Updated ${new Date().toLocaleTimeString()}`;
}

async function load() {
  clearTimeout(timer);
  const jobId = $('#job').dataset.jobId;
  const answer = await api('GET', `/api/v1/jobs/${encodeURIComponent(jobId)}`);
  if (!answer.ok) { showError(answer.error); return false; }
  show(answer.data);
  await keptResults(jobId);
  // A recurring job waits queued until its next time: poll only while it is due or running.
  if (due(answer.data, POLL_MS)) timer = setTimeout(load, POLL_MS);
  return true;
}

export async function start() {
  session = await startShell();
  if (!session) return;
  await load();
  ready();
}
