// DOM helpers: everything from data is written with textContent, never innerHTML.

export function $(selector, root = document) { return root.querySelector(selector); }
export function $all(selector, root = document) { return Array.from(root.querySelectorAll(selector)); }

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === 'text') node.textContent = String(value);
    else if (key === 'class') node.className = value;
    else if (key.startsWith('on') && typeof value === 'function') node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? '' : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function display(value) {
  if (value === null || value === undefined) return '';
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

export function when(iso) {
  if (!iso) return '';
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? String(iso) : date.toLocaleString();
}

export function notice(message, kind = 'info') {
  const box = $('#notice');
  if (!box) return;
  box.replaceChildren();
  if (message) box.append(el('p', { class: `notice ${kind}`, role: kind === 'error' ? 'alert' : null, text: message }));
}

export function ready() { document.body.dataset.ready = 'true'; }

// A whole page for a refusal: the API's own 403 message.
export function showForbidden(error) {
  const main = $('#main');
  main.replaceChildren(
    el('h1', { text: 'Forbidden (403)' }),
    el('p', { class: 'notice error', role: 'alert', id: 'forbidden', text: error.message }),
    el('p', {}, el('a', { href: '/crm/contacts', text: 'Back to the CRM' })),
  );
  document.title = 'Forbidden · Atlas';
  ready();
}

export function showError(error) {
  if (error.status === 401) {
    location.assign(`/sign-in?next=${encodeURIComponent(location.pathname + location.search)}`);
    return;
  }
  if (error.status === 403) { showForbidden(error); return; }
  notice(error.message, 'error');
}

export function clearFieldErrors(form) {
  for (const node of $all('.field-error', form)) { node.textContent = ''; node.hidden = true; }
  for (const node of $all('[aria-invalid]', form)) node.removeAttribute('aria-invalid');
}

// The API's field-level messages beside their fields; messages for unknown fields go to the notice.
export function showFieldErrors(form, error, prefix = '') {
  clearFieldErrors(form);
  const unplaced = [];
  let first = null;
  for (const [name, message] of Object.entries(error.fields || {})) {
    const slot = $(`#err-${CSS.escape(prefix + name)}`, form);
    const control = $(`#${CSS.escape(prefix + name)}`, form);
    if (!slot) { unplaced.push(`${name}: ${message}`); continue; }
    slot.textContent = String(message);
    slot.hidden = false;
    if (control) { control.setAttribute('aria-invalid', 'true'); first = first || control; }
  }
  notice(unplaced.length ? `${error.message} (${unplaced.join('; ')})` : error.message, 'error');
  if (first) first.focus();
}

export function fillTable(table, columns, rows, render) {
  const head = $('thead', table);
  if (head && columns) head.replaceChildren(el('tr', {}, columns.map((c) => el('th', { scope: 'col', text: c }))));
  const body = $('tbody', table);
  body.replaceChildren();
  if (!rows.length) {
    const width = columns ? columns.length : $all('th', table).length;
    body.append(el('tr', {}, el('td', { colspan: width || 1, class: 'empty', text: 'Nothing to show.' })));
    return;
  }
  for (const row of rows) body.append(render(row));
}

export function statsList(dl, pairs) {
  dl.replaceChildren();
  for (const [label, value] of pairs) dl.append(el('div', {}, el('dt', { text: label }), el('dd', { text: display(value) })));
}
