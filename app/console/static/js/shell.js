// The sidebar of every signed-in page: who is signed in, the org switcher, the links the role may use.
import { api } from './api.js';
import { $, $all, el, notice } from './dom.js';

export async function loadSession() {
  const answer = await api('GET', '/api/auth/get-session');
  // Without a session: 401 today, 200 with null once get-session follows Better Auth.
  if (!answer.ok || !answer.data || !answer.data.session) return null;
  return answer.data;
}

export function signInUrl() {
  return `/sign-in?next=${encodeURIComponent(location.pathname + location.search)}`;
}

export function activeOrg(session) { return session.session.activeOrganizationId; }
export function role(session) { return session.session.role; }
export function isPlatformAdmin(session) { return session.user.role === 'admin'; }

// One `need` of app/console/pages.py against the role matrix the shell embeds.
export function allowed(need, session) {
  const matrix = JSON.parse(document.body.dataset.matrix || '{}');
  return need.split('|').some((one) => {
    const [kind, first, second] = one.split(':');
    if (kind === 'platform') return isPlatformAdmin(session);
    if (kind === 'roles') return first.split(',').includes(role(session));
    if (kind === 'matrix') return ((matrix[first] || {})[role(session)] || []).includes(second);
    return false;
  });
}

async function signOut() {
  await api('POST', '/api/auth/sign-out');
  location.assign('/sign-in');
}

async function switchTo(orgId) {
  const answer = await api('POST', '/api/auth/organization/set-active', { organizationId: orgId });
  if (!answer.ok) { notice(answer.error.message, 'error'); return; }
  // The answer set the fresh session cookie; reload so every part of the page uses the new org.
  const detail = location.pathname.match(/^\/crm\/[^/]+\//);
  if (detail) location.assign(detail[0].slice(0, -1)); else location.reload();
}

async function orgSwitcher(session) {
  const answer = await api('GET', '/api/auth/organization/list');
  const orgs = answer.ok && Array.isArray(answer.data) ? answer.data : [];
  const active = activeOrg(session);
  const current = orgs.find((org) => org.id === active);
  $('#org-name').textContent = current ? current.name : '';
  const nav = $('#org-switcher');
  if (orgs.length <= 1) { nav.hidden = true; return orgs; }
  const list = $('#org-list');
  list.replaceChildren();
  for (const org of orgs) {
    const isActive = org.id === active;
    const button = el('button', { type: 'button', class: isActive ? 'org active' : 'org',
                                  'aria-current': isActive ? 'true' : null, 'data-org-id': org.id },
      el('span', { class: 'check', 'aria-hidden': 'true', text: isActive ? '✓' : '' }),
      el('span', { class: 'org-label', text: org.name }),
      isActive ? el('span', { class: 'sr-only', text: ' (active)' }) : null);
    if (!isActive) button.addEventListener('click', () => switchTo(org.id));
    list.append(el('li', {}, button));
  }
  nav.hidden = false;
  return orgs;
}

function markCurrentLink() {
  for (const link of $all('.sidebar nav a')) {
    const path = link.getAttribute('href');
    if (location.pathname === path || location.pathname.startsWith(`${path}/`)) link.setAttribute('aria-current', 'page');
  }
}

// Null (and off to sign-in) without a session; to /no-organization when the page needs an org and there is none.
export async function startShell({ needsOrg = true } = {}) {
  const session = await loadSession();
  if (!session) { location.assign(signInUrl()); return null; }
  if (needsOrg && !activeOrg(session)) {
    location.assign(isPlatformAdmin(session) ? '/platform/organizations' : '/no-organization');
    return null;
  }
  $('#who-name').textContent = `${session.user.name} · ${session.user.email}${role(session) ? ` · ${role(session)}` : ''}`;
  for (const item of $all('[data-need]')) {
    // Links and actions the role may not use are removed, not just hidden.
    if (allowed(item.dataset.need, session)) item.hidden = false; else item.remove();
  }
  if ($all('#admin-nav [data-need]').length) $('#admin-nav').hidden = false; else $('#admin-nav').remove();
  if (isPlatformAdmin(session)) $('#platform-nav').hidden = false; else $('#platform-nav').remove();
  $('#sign-out').addEventListener('click', signOut);
  session.orgs = await orgSwitcher(session);
  markCurrentLink();
  return session;
}
