// The console's one way to the server: the same JSON API and session cookie as every other client.

// An error answer: {code, message, fields?}, the one shape of every endpoint (docs/api.md).
export function errorOf(body, status) {
  const inner = body;
  if (inner && typeof inner === 'object' && typeof inner.message === 'string') {
    const fields = inner.fields && typeof inner.fields === 'object' ? inner.fields : {};
    return { code: String(inner.code || 'error'), message: inner.message, fields, status };
  }
  return { code: `http_${status}`, message: `the server answered ${status}`, fields: {}, status };
}

// fetch with the session cookie (same origin) and a JSON body: -> {ok, status, data, error, headers}.
export async function api(method, path, body) {
  const init = { method, credentials: 'same-origin', headers: { Accept: 'application/json' } };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (err) {
    return { ok: false, status: 0, data: null, headers: null,
             error: { code: 'network', message: 'the server could not be reached', fields: {}, status: 0 } };
  }
  const text = await response.text();
  let data = null;
  if (text) {
    try { data = JSON.parse(text); } catch (err) { data = null; }
  }
  if (response.ok) return { ok: true, status: response.status, data, error: null, headers: response.headers };
  return { ok: false, status: response.status, data, error: errorOf(data, response.status), headers: response.headers };
}

export function query(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== null && value !== undefined && value !== '') search.set(key, value);
  }
  const text = search.toString();
  return text ? `?${text}` : '';
}
