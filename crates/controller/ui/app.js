// postern web console: draws each page from the controller's /v1 API (the same answers the
// CLI gets, so the caller sees exactly what their grants allow) and refreshes live pages
// every second. No framework, no build step. The auth token stays in its HttpOnly cookie;
// the CSRF token the controller gives /ui/whoami lives in memory only.
'use strict';

const REFRESH_MS = 1000;
const DEFAULT_ADDR = 'http://127.0.0.1:9200';
const LIVE = ['pending', 'active'];

const app = { csrf: null, me: null, timer: null, users: new Map(), targets: new Map() };

// --- DOM and formatting -----------------------------------------------------------------

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === 'text') node.textContent = value;
    else if (key === 'class') node.className = value;
    else node.setAttribute(key, value === true ? '' : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function setText(node, text) {
  if (node.textContent !== text) node.textContent = text;
}

function bytes(n) {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(value < 10 ? 2 : 1)} ${units[unit]}`;
}

function pad(n) {
  return String(n).padStart(2, '0');
}

function when(iso) {
  if (!iso) return '—';
  const t = new Date(iso);
  return `${t.getFullYear()}-${pad(t.getMonth() + 1)}-${pad(t.getDate())} ` +
    `${pad(t.getHours())}:${pad(t.getMinutes())}:${pad(t.getSeconds())}`;
}

function duration(seconds) {
  if (seconds <= 0) return '0s';
  const d = Math.floor(seconds / 86400);
  const h = Math.floor((seconds % 86400) / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = Math.floor(seconds % 60);
  if (d > 0) return `${d}d ${h}h`;
  if (h > 0) return `${h}h ${m}m`;
  if (m > 0) return `${m}m ${s}s`;
  return `${s}s`;
}

function timeLeft(session) {
  if (!LIVE.includes(session.status)) return '—';
  return duration((new Date(session.expiration_time) - Date.now()) / 1000);
}

function totals(session) {
  const connections = session.connections || [];
  let up = 0;
  let down = 0;
  let open = 0;
  for (const c of connections) {
    up += Number(c.bytes_up || 0);
    down += Number(c.bytes_down || 0);
    if (!c.closed_reason) open += 1;
  }
  return { up, down, open, total: connections.length };
}

function userName(id) {
  if (app.me && id === app.me.user_id) return `${app.me.login_name || app.me.name || id} (you)`;
  return app.users.get(id) || id;
}

function targetName(id) {
  const target = app.targets.get(id);
  return target && target.name ? target.name : id;
}

function bytesCell(n, name) {
  return el('td', { class: `num ${name}`, 'data-bytes': String(n), text: bytes(n) });
}

function updateBytes(cell, n) {
  cell.setAttribute('data-bytes', String(n));
  setText(cell, bytes(n));
}

// --- API --------------------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, body) {
    super((body && body.message) || `HTTP ${status}`);
    this.status = status;
    this.body = body;
  }

  // The message, with the fields the controller named (a filter's error names its column).
  get detail() {
    const fields = (this.body && this.body.details && this.body.details.request_fields) || [];
    const extra = fields.map((f) => f.description).filter((d) => d && d !== this.message);
    return [this.message, ...extra].join(' ');
  }
}

async function api(path, method, body) {
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (method && method !== 'GET') headers['X-Postern-Csrf'] = app.csrf || '';
  const response = await fetch(path, {
    method: method || 'GET',
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: 'same-origin',
    cache: 'no-store',
  });
  const text = await response.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch (_) {
    json = { message: text };
  }
  if (response.status === 401) {
    window.location.assign('/ui/login');
  }
  if (!response.ok) throw new ApiError(response.status, json);
  return json;
}

async function listAll(path) {
  const items = [];
  let token = '';
  for (let page = 0; page < 100; page += 1) {
    const sep = path.includes('?') ? '&' : '?';
    const url = token ? `${path}${sep}list_token=${encodeURIComponent(token)}` : path;
    const answer = await api(url);
    items.push(...(answer.items || []));
    if (answer.response_type !== 'delta' || !answer.list_token) break;
    token = answer.list_token;
  }
  return items;
}

// Names for ids: targets and users the caller may list (a 403 just leaves ids).
async function loadNames() {
  const [targets, users] = await Promise.allSettled([
    listAll('/v1/targets?scope_id=global&recursive=true'),
    listAll('/v1/users?scope_id=global&recursive=true'),
  ]);
  if (targets.status === 'fulfilled') {
    app.targets = new Map(targets.value.map((t) => [t.id, t]));
  }
  if (users.status === 'fulfilled') {
    app.users = new Map(users.value.map((u) => [u.id, u.login_name || u.name || u.id]));
  }
}

// --- pages ------------------------------------------------------------------------------

function main() {
  return document.getElementById('main');
}

function show(...children) {
  const root = main();
  root.replaceChildren(...children);
}

function errorBox(id) {
  return el('p', { id, class: 'error', role: 'alert', hidden: true });
}

function showError(box, error) {
  box.hidden = false;
  setText(box, error instanceof ApiError ? error.detail : String(error.message || error));
}

function hideError(box) {
  box.hidden = true;
  setText(box, '');
}

// Runs `refresh` now and then every second until the page changes.
function every(refresh) {
  const tick = async () => {
    try {
      await refresh();
    } catch (_) {
      // Each page shows its own errors; a failed tick is retried by the next.
    } finally {
      app.timer = window.setTimeout(tick, REFRESH_MS);
    }
  };
  tick();
}

const SESSION_COLUMNS = [
  ['id', 'Session'],
  ['status', 'Status'],
  ['user', 'User'],
  ['target', 'Target'],
  ['created', 'Created'],
  ['left', 'Time left'],
  ['conns', 'Connections'],
  ['bytes-up', 'Bytes up'],
  ['bytes-down', 'Bytes down'],
];

function sessionRow(s) {
  const t = totals(s);
  const row = el('tr', { 'data-session-id': s.id },
    el('td', { class: 'id' }, el('a', { href: `/ui/sessions/${encodeURIComponent(s.id)}`, text: s.id })),
    el('td', { class: 'status' }, el('span', { class: `badge ${s.status}`, text: s.status })),
    el('td', { class: 'user', text: userName(s.user_id) }),
    el('td', { class: 'target', text: targetName(s.target_id) }),
    el('td', { class: 'created', text: when(s.created_time) }),
    el('td', { class: 'left', text: timeLeft(s) }),
    el('td', { class: 'num conns', text: `${t.open} / ${t.total}` }),
    bytesCell(t.up, 'bytes-up'),
    bytesCell(t.down, 'bytes-down'));
  // Narrow screens show each row as a card, every value under its column's name.
  [...row.children].forEach((cell, i) => cell.setAttribute('data-label', SESSION_COLUMNS[i][1]));
  return row;
}

function updateSessionRow(row, s) {
  const t = totals(s);
  const badge = row.querySelector('.status .badge');
  setText(badge, s.status);
  badge.className = `badge ${s.status}`;
  setText(row.querySelector('.user'), userName(s.user_id));
  setText(row.querySelector('.target'), targetName(s.target_id));
  setText(row.querySelector('.left'), timeLeft(s));
  setText(row.querySelector('.conns'), `${t.open} / ${t.total}`);
  updateBytes(row.querySelector('.bytes-up'), t.up);
  updateBytes(row.querySelector('.bytes-down'), t.down);
}

function sessionsPage() {
  const params = new URLSearchParams(window.location.search);
  const filter = el('input', {
    id: 'filter', name: 'filter', type: 'search', value: params.get('filter') || '',
    placeholder: '"/item/status" == "active"', 'aria-label': 'Filter', spellcheck: 'false',
  });
  const terminated = el('input', {
    id: 'show-terminated', type: 'checkbox', checked: params.get('terminated') === '1',
  });
  const error = errorBox('sessions-error');
  const count = el('p', { id: 'sessions-count', class: 'muted' });
  const body = el('tbody');
  const table = el('table', { id: 'sessions' },
    el('thead', {}, el('tr', {}, SESSION_COLUMNS.map(([c, title]) => el('th', { class: c, scope: 'col', text: title })))),
    body);
  const form = el('form', { id: 'sessions-filter', class: 'controls', role: 'search' },
    el('label', { for: 'filter', text: 'Filter' }), filter,
    el('button', { type: 'submit', text: 'Apply' }),
    el('label', { class: 'check' }, terminated, ' Show terminated'));
  const refresh = async () => {
    const query = new URLSearchParams({ scope_id: 'global', recursive: 'true' });
    if (terminated.checked) query.set('include_terminated', 'true');
    if (filter.value.trim()) query.set('filter', filter.value.trim());
    let items;
    try {
      items = await listAll(`/v1/sessions?${query}`);
    } catch (e) {
      showError(error, e);
      return;
    }
    hideError(error);
    const rows = new Map([...body.children].map((r) => [r.getAttribute('data-session-id'), r]));
    const order = items.map((s) => {
      const row = rows.get(s.id);
      rows.delete(s.id);
      if (!row) return sessionRow(s);
      updateSessionRow(row, s);
      return row;
    });
    for (const gone of rows.values()) gone.remove();
    order.forEach((row, i) => {
      if (body.children[i] !== row) body.insertBefore(row, body.children[i] || null);
    });
    const live = items.filter((s) => LIVE.includes(s.status)).length;
    setText(count, items.length === 0 ? 'No sessions to show.' : `${items.length} sessions, ${live} live.`);
  };
  const apply = (event) => {
    if (event) event.preventDefault();
    const next = new URLSearchParams();
    if (filter.value.trim()) next.set('filter', filter.value.trim());
    if (terminated.checked) next.set('terminated', '1');
    const search = next.toString();
    window.history.replaceState(null, '', search ? `?${search}` : window.location.pathname);
    refresh();
  };
  form.addEventListener('submit', apply);
  terminated.addEventListener('change', apply);
  show(el('h1', { text: 'Sessions' }), form, error, count, el('div', { class: 'scroll' }, table));
  every(refresh);
  window.setInterval(() => loadNames().catch(() => {}), 30000);
}

function sessionPage(id) {
  const title = el('h1', {}, 'Session ', el('code', { text: id }));
  const error = errorBox('session-error');
  const message = el('p', { id: 'cancel-message', class: 'notice', role: 'status', hidden: true });
  const cancel = el('button', { id: 'cancel', type: 'button', class: 'danger', hidden: true, text: 'Cancel session' });
  const facts = el('dl', { id: 'session-facts', class: 'facts' });
  const states = el('tbody');
  const connections = el('tbody');
  const content = el('div', { id: 'session', hidden: true },
    el('div', { class: 'actions' }, cancel), message, facts,
    el('h2', { text: 'Connections' }),
    el('div', { class: 'scroll' }, el('table', { id: 'connections' },
      el('thead', {}, el('tr', {}, ['#', 'Client', 'Endpoint', 'State', 'Bytes up', 'Bytes down', 'Closed reason']
        .map((t) => el('th', { scope: 'col', text: t })))), connections)),
    el('h2', { text: 'States' }),
    el('div', { class: 'scroll' }, el('table', { id: 'states' },
      el('thead', {}, el('tr', {}, ['State', 'From', 'Until'].map((t) => el('th', { scope: 'col', text: t })))), states)));
  let current = null;
  const draw = (s) => {
    current = s;
    content.hidden = false;
    const actions = s.authorized_actions || [];
    const mayCancel = actions.includes('cancel') || actions.includes('cancel:self');
    cancel.hidden = !(mayCancel && LIVE.includes(s.status));
    const t = totals(s);
    const rows = [
      ['Status', el('span', { id: 'session-status', class: `badge ${s.status}`, text: s.status })],
      ['User', userName(s.user_id)],
      ['Target', `${targetName(s.target_id)} (${s.target_id})`],
      ['Scope', s.scope_id],
      ['Endpoint', s.endpoint],
      ['Workers', (s.worker_info || []).map((w) => w.address).join(', ') || '—'],
      ['Created', when(s.created_time)],
      ['Expires', when(s.expiration_time)],
      ['Time left', timeLeft(s)],
      ['Connections', `${t.open} open, ${t.total} in all`],
      ['Bytes up / down', `${bytes(t.up)} / ${bytes(t.down)}`],
      ['Termination reason', s.termination_reason || '—'],
      ['Version', String(s.version)],
    ];
    facts.replaceChildren(...rows.flatMap(([k, v]) => [el('dt', { text: k }), el('dd', {}, v)]));
    connections.replaceChildren(...(s.connections || []).map((c, i) => el('tr', { 'data-connection': String(i + 1) },
      el('td', { text: String(i + 1) }),
      el('td', { class: 'client', text: c.client_tcp_address ? `${c.client_tcp_address}:${c.client_tcp_port}` : '—' }),
      el('td', { class: 'endpoint', text: c.endpoint_tcp_address ? `${c.endpoint_tcp_address}:${c.endpoint_tcp_port}` : '—' }),
      el('td', { class: 'state', text: c.closed_reason ? 'closed' : 'open' }),
      bytesCell(Number(c.bytes_up || 0), 'bytes-up'),
      bytesCell(Number(c.bytes_down || 0), 'bytes-down'),
      el('td', { class: 'closed-reason', text: c.closed_reason || '—' }))));
    if (!(s.connections || []).length) {
      connections.replaceChildren(el('tr', {}, el('td', { colspan: '7', class: 'muted', text: 'No connections yet.' })));
    }
    states.replaceChildren(...(s.states || []).map((st) => el('tr', {},
      el('td', {}, el('span', { class: `badge ${st.status}`, text: st.status })),
      el('td', { text: when(st.start_time) }),
      el('td', { text: st.end_time ? when(st.end_time) : '—' }))));
  };
  const refresh = async () => {
    try {
      const answer = await api(`/v1/sessions/${encodeURIComponent(id)}`);
      hideError(error);
      draw(answer.item || answer);
    } catch (e) {
      if (e.status === 404 || e.status === 403) {
        content.hidden = true;
        current = null;
      }
      showError(error, e.status === 404 ? new Error(`Session ${id} was not found, or you may not see it.`) : e);
    }
  };
  cancel.addEventListener('click', async () => {
    if (!current) return;
    cancel.disabled = true;
    const version = current.version;
    try {
      const answer = await api(`/v1/sessions/${encodeURIComponent(id)}:cancel`, 'POST', { version });
      draw(answer.item || answer);
      message.hidden = false;
      setText(message, 'Cancel requested: open connections are being closed.');
    } catch (e) {
      message.hidden = false;
      if (e.status === 400 && /version/i.test(e.message)) {
        setText(message, `The session changed since this page showed it (version ${version}): ` +
          'it has been refreshed. Look again, and press Cancel again if you still want to end it.');
        await refresh();
      } else {
        setText(message, `Cancel failed: ${e instanceof ApiError ? e.detail : e.message}`);
      }
    } finally {
      cancel.disabled = false;
    }
  });
  show(el('p', { class: 'crumbs' }, el('a', { href: '/ui/sessions', text: 'Sessions' }), ' › ', id),
    title, error, content);
  every(refresh);
}

function commandBox(text) {
  const code = el('code', { text });
  const copy = el('button', { type: 'button', class: 'copy', text: 'Copy', 'aria-label': `Copy: ${text}` });
  copy.addEventListener('click', async () => {
    try {
      await navigator.clipboard.writeText(text);
      setText(copy, 'Copied');
    } catch (_) {
      const range = document.createRange();
      range.selectNodeContents(code);
      window.getSelection().removeAllRanges();
      window.getSelection().addRange(range);
      setText(copy, 'Selected');
    }
    window.setTimeout(() => setText(copy, 'Copy'), 1500);
  });
  return el('div', { class: 'command' }, code, copy);
}

async function targetsPage() {
  const error = errorBox('targets-error');
  const list = el('div', { id: 'targets' });
  show(el('h1', { text: 'Targets' }), el('p', { class: 'muted', text: 'The targets you may connect to, with the command that does it.' }), error, list);
  const [scopes, targets] = await Promise.allSettled([
    listAll('/v1/scopes?scope_id=global&recursive=true'),
    listAll('/v1/targets?scope_id=global&recursive=true'),
  ]);
  if (targets.status === 'rejected') {
    showError(error, targets.reason);
    return;
  }
  const byId = new Map(scopes.status === 'fulfilled' ? scopes.value.map((s) => [s.id, s]) : []);
  const crumbs = (scope) => {
    const chain = [];
    let id = scope && scope.id;
    for (let i = 0; id && i < 10; i += 1) {
      const known = byId.get(id) || (scope && scope.id === id ? scope : null);
      chain.unshift(id === 'global' ? 'Global' : (known && known.name) || id);
      if (id === 'global') break;
      id = (known && (known.scope_id || known.parent_scope_id)) || (id === scope.id ? scope.parent_scope_id : null);
    }
    if (chain[0] !== 'Global') chain.unshift('Global');
    return el('nav', { class: 'crumbs', 'aria-label': 'Scope' }, chain.join(' › '));
  };
  const addr = window.location.origin === DEFAULT_ADDR ? '' : ` -addr ${window.location.origin}`;
  const reachable = targets.value.filter((t) => (t.authorized_actions || []).includes('authorize-session'));
  if (!reachable.length) {
    list.replaceChildren(el('p', { class: 'muted', text: 'No target you may connect to.' }));
    return;
  }
  list.replaceChildren(...reachable.map((t) => el('section', { class: 'target', 'data-target-id': t.id },
    crumbs(t.scope),
    el('h2', {}, t.name || t.id, ' ', el('code', { class: 'muted', text: t.id })),
    t.description ? el('p', { text: t.description }) : null,
    el('p', { class: 'muted', text: `${t.type}, port ${(t.attributes && t.attributes.default_port) || '—'}${t.address ? `, address ${t.address}` : ''}` }),
    commandBox(`postern connect${addr} -target-id ${t.id}`),
    commandBox(`postern connect ssh${addr} -target-id ${t.id}`))));
}

async function workersPage() {
  const error = errorBox('workers-error');
  if (!app.me.may_list_workers) {
    show(el('h1', { text: 'Workers' }), el('p', { class: 'muted', text: 'Your grants do not let you list workers.' }));
    return;
  }
  const body = el('tbody');
  show(el('h1', { text: 'Workers' }), error, el('div', { class: 'scroll' }, el('table', { id: 'workers' },
    el('thead', {}, el('tr', {}, ['Worker', 'Address', 'Tags', 'Last seen', 'Active connections', 'Version']
      .map((t) => el('th', { scope: 'col', text: t })))), body)));
  const refresh = async () => {
    let workers;
    try {
      workers = await listAll('/v1/workers?scope_id=global');
    } catch (e) {
      showError(error, e.status === 403 ? new Error('You may not list workers.') : e);
      return;
    }
    hideError(error);
    body.replaceChildren(...workers.map((w) => el('tr', { 'data-worker-id': w.id },
      el('td', {}, w.name || w.id, w.name ? el('div', { class: 'muted', text: w.id }) : null),
      el('td', { text: w.address || '—' }),
      el('td', { text: Object.entries(w.config_tags || {}).map(([k, v]) => `${k}=${v.join(',')}`).join(' ') || '—' }),
      el('td', { text: w.last_status_time ? `${duration((Date.now() - new Date(w.last_status_time)) / 1000)} ago` : 'never' }),
      el('td', { class: 'num', text: w.active_connection_count === undefined ? '—' : String(w.active_connection_count) }),
      el('td', { text: w.release_version || '—' }))));
    if (!workers.length) body.replaceChildren(el('tr', {}, el('td', { colspan: '6', class: 'muted', text: 'No workers.' })));
  };
  every(refresh);
}

// --- start --------------------------------------------------------------------------------

async function logout() {
  try {
    await api('/ui/logout', 'POST');
  } finally {
    window.location.assign('/ui/login');
  }
}

async function start() {
  try {
    app.me = await api('/ui/whoami');
  } catch (_) {
    return;
  }
  app.csrf = app.me.csrf_token;
  setText(document.getElementById('who'), app.me.login_name || app.me.name || app.me.user_id);
  document.getElementById('logout').addEventListener('click', () => logout().catch(() => {}));
  const path = window.location.pathname.replace(/\/+$/, '');
  const [, , page, id] = path.split('/');
  if (!app.me.may_list_workers) document.querySelector('nav a[data-nav="workers"]').hidden = true;
  for (const link of document.querySelectorAll('nav a[data-nav]')) {
    if (link.getAttribute('data-nav') === page) link.setAttribute('aria-current', 'page');
  }
  await loadNames().catch(() => {});
  if (page === 'sessions' && id) sessionPage(decodeURIComponent(id));
  else if (page === 'sessions') sessionsPage();
  else if (page === 'targets') await targetsPage();
  else if (page === 'workers') workersPage();
  else show(el('h1', { text: 'Not found' }), el('p', {}, 'No such page. ', el('a', { href: '/ui/sessions', text: 'Sessions' })));
}

start();
