// Loads the page's module: <body data-page="..."> names it.
const PAGES = {
  'sign-in': './auth.js', 'sign-up': './auth.js', 'accept-invitation': './auth.js',
  'crm-list': './crm_list.js', 'crm-new': './crm_form.js', 'crm-detail': './crm_form.js',
  ask: './ask.js', 'no-org': './no_org.js', 'not-found': './not_found.js',
  'admin-members': './members.js', 'admin-semantic': './semantic.js', 'admin-settings': './settings.js',
  'admin-connections': './connections.js', 'admin-audit': './audit.js', 'admin-cache': './cache.js',
  'admin-api-keys': './api_keys.js', 'admin-sso': './sso.js', 'mcp-clients': './mcp_clients.js', jobs: './jobs.js', job: './job.js',
  'admin-roles': './roles.js', 'admin-teams': './teams.js', 'admin-scim': './scim.js',
  'platform-orgs': './platform.js', 'platform-org': './platform.js',
};

const page = document.body.dataset.page;
if (PAGES[page]) {
  const module = await import(PAGES[page]);
  await module.start(page);
}
