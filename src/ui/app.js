// runcell web UI: one page, plain JavaScript, no framework, nothing loaded
// from outside.  Views are chosen by the URL hash (#/, #/automations/ID,
// #/runs, #/runs/ID, #/admin).  The page signs in with a password (an
// HttpOnly session cookie the script never sees) and sends the session's
// CSRF token with every state-changing request.  Live views use
// Server-Sent Events, which reconnect by themselves.
'use strict';

const ACTIVE = ['queued', 'starting', 'running'];
const STATES = ['queued', 'starting', 'running', 'succeeded', 'failed',
  'timed_out', 'cancelled', 'lost'];
const ROLES = ['viewer', 'operator', 'admin'];

let me = null;            // {user, role, csrf_token}
let live = [];            // EventSources and timers of the current view
let viewSeq = 0;          // bumps on every navigation

// ---- small helpers ----

function $(sel, root) { return (root || document).querySelector(sel); }

// h('tag.class', {attr: v, onclick: fn}, child...) builds an element.
function h(spec, attrs, ...kids) {
  const [tag, ...cls] = spec.split('.');
  const el = document.createElement(tag);
  if (cls.length) el.className = cls.join(' ');
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'text') el.textContent = v;
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, v);
  }
  for (const kid of kids.flat()) {
    if (kid === null || kid === undefined || kid === false) continue;
    el.append(kid instanceof Node ? kid : String(kid));
  }
  return el;
}

function setMain(...kids) {
  const m = $('#main');
  m.replaceChildren(...kids);
}

function banner(text, kind) {
  const b = $('#banner');
  if (!text) { b.hidden = true; b.textContent = ''; return; }
  b.className = 'banner ' + (kind || 'info');
  b.textContent = text;
  b.hidden = false;
}

function fmtTime(s) {
  if (!s) return '—';
  const d = new Date(s);
  return d.toLocaleString();
}

function fmtDuration(run) {
  let secs = run.duration_seconds;
  if (secs === null || secs === undefined) {
    if (!run.started_at) return '—';
    secs = (Date.now() - Date.parse(run.started_at)) / 1000;
  }
  if (secs < 60) return secs.toFixed(1) + ' s';
  const m = Math.floor(secs / 60), s = Math.round(secs % 60);
  if (m < 60) return m + ' min ' + s + ' s';
  return Math.floor(m / 60) + ' h ' + (m % 60) + ' min';
}

function fmtBytes(n) {
  if (n === null || n === undefined) return '—';
  const u = ['B', 'KiB', 'MiB', 'GiB'];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return n.toFixed(i ? 1 : 0) + ' ' + u[i];
}

function fmtUsage(run) {
  if (!run.usage) return '—';
  return run.usage.cpu_seconds.toFixed(2) + ' s CPU, ' +
    fmtBytes(run.usage.peak_memory_bytes);
}

function stateBadge(state) {
  return h('span.state.' + state, { text: state.replace('_', ' '), 'data-state': state });
}

function stopLive() {
  for (const x of live) {
    if (x.close) x.close(); else clearInterval(x);
  }
  live = [];
}

function roleAtLeast(role) {
  return me && ROLES.indexOf(me.role) >= ROLES.indexOf(role);
}

// ---- talking to the API ----

class ApiError extends Error {
  constructor(status, body) {
    const e = (body && body.error) || {};
    super(e.message || ('request failed with status ' + status));
    this.status = status;
    this.code = e.code;
    this.field = e.field;
  }
}

async function api(method, path, body) {
  const headers = {};
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (method !== 'GET' && me && me.csrf_token) headers['X-CSRF-Token'] = me.csrf_token;
  let resp;
  try {
    resp = await fetch(path, {
      method, headers, credentials: 'same-origin',
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (e) {
    banner('Cannot reach the runcell server. Check your connection; retry in a moment.', 'error');
    throw new ApiError(0, { error: { message: 'the server cannot be reached' } });
  }
  let data = null;
  const ct = resp.headers.get('Content-Type') || '';
  if (ct.startsWith('application/json')) data = await resp.json();
  if (!resp.ok) {
    const err = new ApiError(resp.status, data);
    if (resp.status === 401 && path !== '/api/v1/session') {
      me = null;
      showLogin('Your session has ended. Sign in again.');
    }
    throw err;
  }
  return data;
}

// A user-facing sentence for an error from api().
function explain(err) {
  switch (err.status) {
    case 0: return 'The server cannot be reached. Check your connection and try again.';
    case 401: return 'You are not signed in: ' + err.message;
    case 403: return 'You are not allowed to do this: ' + err.message;
    case 404: return 'Not found: ' + err.message;
    case 409: return 'Conflict: ' + err.message;
    case 429: return 'Too many runs at once: ' + err.message;
    default: return err.message;
  }
}

function errorView(title, err) {
  setMain(h('h1', { text: title }), h('div.card', { role: 'alert' }, h('p', { text: explain(err) })),
    h('p', {}, h('a', { href: '#/', text: 'Back to the automations' })));
}

// A live stream that reconnects by itself and says when it is down.
function stream(path, handlers) {
  const es = new EventSource(path, { withCredentials: true });
  let down = false;
  es.onopen = () => { if (down) banner(''); down = false; };
  es.onerror = async () => {
    down = true;
    if (es.readyState === EventSource.CLOSED) {
      // The server refused the stream (signed out, or gone): find out why.
      banner('Live updates stopped. Reconnecting…', 'error');
      try { await api('GET', '/api/v1/session'); } catch (e) { return; }
      setTimeout(() => { if (live.includes(es)) route(); }, 2000);
    } else {
      banner('Connection lost. Reconnecting…', 'error');
    }
  };
  for (const [name, fn] of Object.entries(handlers)) {
    es.addEventListener(name, (ev) => fn(ev));
  }
  live.push(es);
  return es;
}

// ---- sign in ----

function showLogin(message) {
  stopLive();
  $('#nav').hidden = true;
  $('#who').hidden = true;
  const err = h('p.field-error', { id: 'login-error', role: 'alert' });
  if (message) err.textContent = message;
  const form = h('form.card.login', { id: 'login-form', novalidate: true },
    h('h1', { text: 'Sign in to runcell' }),
    h('div.field', {}, h('label', { for: 'login-user', text: 'Username' }),
      h('input', { id: 'login-user', type: 'text', name: 'username', autocomplete: 'username', required: true })),
    h('div.field', {}, h('label', { for: 'login-pass', text: 'Password' }),
      h('input', { id: 'login-pass', type: 'password', name: 'password', autocomplete: 'current-password', required: true })),
    err,
    h('div.actions', {}, h('button', { type: 'submit', text: 'Sign in' })));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    err.textContent = '';
    const username = $('#login-user').value.trim(), password = $('#login-pass').value;
    if (!username || !password) { err.textContent = 'Enter your username and password.'; return; }
    try {
      me = await api('POST', '/api/v1/session', { username, password });
      banner('');
      afterSignIn();
    } catch (e) {
      err.textContent = e.status === 401 ? 'Wrong username or password.' : explain(e);
    }
  });
  setMain(form);
  $('#login-user').focus();
}

function afterSignIn() {
  $('#nav').hidden = false;
  $('#who').hidden = false;
  $('#who-name').textContent = me.user + ' (' + me.role + ')';
  $('#nav-admin').hidden = me.role !== 'admin';
  if (!location.hash || location.hash === '#/login') location.hash = '#/';
  else route();
}

async function signOut() {
  try { await api('DELETE', '/api/v1/session'); } catch (e) { /* signed out anyway */ }
  me = null;
  location.hash = '#/';
  showLogin('You have signed out.');
}

// ---- catalog ----

async function viewCatalog(seq) {
  let data, sched;
  try {
    [data, sched] = await Promise.all([api('GET', '/api/v1/automations'),
      api('GET', '/api/v1/schedules').catch(() => ({ schedules: [] }))]);
  } catch (e) { return errorView('Automations', e); }
  if (seq !== viewSeq) return;
  const schedules = new Map(sched.schedules.map((x) => [x.automation, x]));
  function scheduleLine(a) {
    const x = schedules.get(a.id);
    if (!x) return null;
    const next = x.next_fire_at ? new Date(x.next_fire_at).toLocaleString() : 'never';
    return h('p.muted.schedule', { text: 'Schedule: ' + x.cron + ' (' + x.timezone + '), next ' + next });
  }
  const search = h('input', { id: 'catalog-search', type: 'search', placeholder: 'Name, id or description' });
  const grid = h('div.grid', { id: 'catalog' });
  const empty = h('p.muted', { hidden: true, text: 'No automation matches your search.' });
  function draw() {
    const q = search.value.trim().toLowerCase();
    const items = data.automations.filter((a) => !q ||
      [a.id, a.name, a.description || ''].some((s) => s.toLowerCase().includes(q)));
    grid.replaceChildren(...items.map((a) => h('section.card', { 'data-automation': a.id },
      h('h2', {}, a.name),
      h('p.muted', { text: a.id }),
      a.description ? h('p', { text: a.description }) : null,
      h('p.muted', { text: a.parameters.length + ' parameter' + (a.parameters.length === 1 ? '' : 's') }),
      scheduleLine(a),
      h('div.actions', {},
        a.can_run ? h('a.button', { href: '#/automations/' + encodeURIComponent(a.id), text: 'Run', 'aria-label': 'Run ' + a.name })
          : h('a.button.secondary', { href: '#/automations/' + encodeURIComponent(a.id), text: 'Details' }),
        h('a', { href: '#/runs?automation=' + encodeURIComponent(a.id), text: 'Runs' })))));
    empty.hidden = items.length > 0;
  }
  search.addEventListener('input', draw);
  draw();
  setMain(h('h1', { text: 'Automations' }),
    h('div.field', {}, h('label', { for: 'catalog-search', text: 'Search automations' }), search),
    grid, empty);
}

// ---- run form ----

// The server's rules, in the browser: returns an error sentence or ''.
function checkParam(p, raw) {
  const empty = raw === '' || raw === null || raw === undefined;
  if (p.type === 'boolean') return '';
  if (empty) return p.required ? 'This is required.' : '';
  switch (p.type) {
    case 'integer':
    case 'number': {
      const n = Number(raw);
      if (!Number.isFinite(n)) return 'Enter a number.';
      if (p.type === 'integer' && !Number.isInteger(n)) return 'Enter a whole number.';
      if (p.min !== undefined && n < p.min) return 'Must be at least ' + p.min + '.';
      if (p.max !== undefined && n > p.max) return 'Must be at most ' + p.max + '.';
      return '';
    }
    case 'choice':
      return p.choices.includes(raw) ? '' : 'Pick one of: ' + p.choices.join(', ') + '.';
    case 'path': {
      if (!raw.startsWith('/')) return 'Give an absolute path (starting with /).';
      if (raw.split('/').includes('..')) return 'The path may not contain "..".';
      if (p.roots && p.roots.length &&
        !p.roots.some((r) => raw === r || raw.startsWith(r.endsWith('/') ? r : r + '/')))
        return 'The path must be inside ' + p.roots.join(' or ') + '.';
      return '';
    }
    default: {
      if (p.max_length && [...raw].length > p.max_length) return 'At most ' + p.max_length + ' characters.';
      if (p.pattern) {
        let re;
        try { re = new RegExp('^(?:' + p.pattern + ')$'); } catch (e) { return ''; }
        if (!re.test(raw)) return 'Must match the pattern ' + p.pattern + '.';
      }
      return '';
    }
  }
}

function paramInput(p, value) {
  const id = 'param-' + p.name;
  const common = { id, name: p.name, 'aria-describedby': 'err-' + p.name + (p.description ? ' hint-' + p.name : '') };
  if (p.type === 'boolean') {
    return h('input', Object.assign({ type: 'checkbox', checked: value === true }, common));
  }
  if (p.type === 'choice') {
    const sel = h('select', Object.assign({ required: p.required }, common),
      p.required && value === undefined ? h('option', { value: '', text: 'Choose…' }) : null,
      !p.required ? h('option', { value: '', text: '(default)' }) : null,
      p.choices.map((c) => h('option', { value: c, text: c })));
    if (value !== undefined && value !== null) sel.value = String(value);
    return sel;
  }
  const attrs = Object.assign({ type: 'text', required: p.required }, common);
  if (p.type === 'integer' || p.type === 'number') {
    attrs.type = 'number';
    attrs.step = p.type === 'integer' ? '1' : 'any';
    if (p.min !== undefined) attrs.min = p.min;
    if (p.max !== undefined) attrs.max = p.max;
    attrs.inputmode = p.type === 'integer' ? 'numeric' : 'decimal';
  }
  if (p.max_length) attrs.maxlength = p.max_length;
  if (p.type === 'path') attrs.placeholder = (p.roots && p.roots[0]) ? p.roots[0] + '/…' : '/path';
  const input = h('input', attrs);
  if (value !== undefined && value !== null) input.value = String(value);
  return input;
}

function paramHint(p) {
  const bits = [];
  if (p.description) bits.push(/[.!?]$/.test(p.description) ? p.description : p.description + '.');
  if (p.type === 'integer' || p.type === 'number') {
    if (p.min !== undefined && p.max !== undefined) bits.push('From ' + p.min + ' to ' + p.max + '.');
    else if (p.min !== undefined) bits.push('At least ' + p.min + '.');
    else if (p.max !== undefined) bits.push('At most ' + p.max + '.');
  }
  if (p.pattern) bits.push('Format: ' + p.pattern);
  if (p.max_length) bits.push('Up to ' + p.max_length + ' characters.');
  if (p.type === 'path' && p.roots) bits.push('Inside ' + p.roots.join(' or ') + '.');
  if (p.default !== undefined && p.type !== 'boolean') bits.push('Default: ' + p.default + '.');
  return bits.join(' ');
}

async function viewRunForm(seq, id, query) {
  let a;
  try { a = await api('GET', '/api/v1/automations/' + encodeURIComponent(id)); } catch (e) { return errorView('Automation', e); }
  let prefill = {};
  if (query.get('from')) {
    try { prefill = (await api('GET', '/api/v1/runs/' + encodeURIComponent(query.get('from')))).parameters || {}; } catch (e) { /* start empty */ }
  }
  if (seq !== viewSeq) return;
  const fields = a.parameters.map((p) => {
    const value = prefill[p.name] !== undefined ? prefill[p.name] : p.default;
    const input = paramInput(p, value);
    const hint = paramHint(p);
    const label = (p.required ? p.name + ' (required)' : p.name);
    return h('div.field', { 'data-param': p.name },
      p.type === 'boolean' ? h('label.check', { for: input.id }, input, label)
        : [h('label', { for: input.id, text: label }), input],
      hint ? h('p.hint', { id: 'hint-' + p.name, text: hint }) : null,
      h('p.field-error', { id: 'err-' + p.name, 'aria-live': 'polite' }));
  });
  const formError = h('p.field-error', { id: 'form-error', role: 'alert' });
  const form = h('form.card', { id: 'run-form', novalidate: true },
    fields.length ? fields : h('p.muted', { text: 'This automation takes no parameters.' }),
    formError,
    a.can_run ? h('div.actions', {}, h('button', { type: 'submit', id: 'run-submit', text: 'Run ' + a.name }))
      : h('p.muted', { id: 'cannot-run', text: 'Your role (' + me.role + ') may not run this automation.' }));
  function setError(name, msg) {
    const f = form.querySelector('[data-param="' + CSS.escape(name) + '"]');
    if (!f) return false;
    f.classList.toggle('invalid', !!msg);
    const input = f.querySelector('input, select');
    input.setAttribute('aria-invalid', msg ? 'true' : 'false');
    $('#err-' + CSS.escape(name), f).textContent = msg || '';
    return true;
  }
  function collect() {
    const params = {};
    let firstBad = null;
    for (const p of a.parameters) {
      const input = form.elements[p.name];
      let raw = p.type === 'boolean' ? input.checked : input.value;
      if (typeof raw === 'string' && p.type !== 'string') raw = raw.trim();
      const msg = checkParam(p, raw);
      setError(p.name, msg);
      if (msg && !firstBad) firstBad = input;
      if (p.type === 'boolean') params[p.name] = raw;
      else if (raw !== '') params[p.name] = (p.type === 'integer' || p.type === 'number') ? Number(raw) : raw;
    }
    return { params, firstBad };
  }
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    formError.textContent = '';
    const { params, firstBad } = collect();
    if (firstBad) { firstBad.focus(); return; }
    const btn = $('#run-submit');
    btn.disabled = true;
    try {
      const run = await api('POST', '/api/v1/runs', { automation: a.id, parameters: params });
      location.hash = '#/runs/' + run.id;
    } catch (e) {
      btn.disabled = false;
      if (e.field && setError(e.field, e.message)) {
        form.elements[e.field].focus();
      } else {
        formError.textContent = explain(e);
      }
    }
  });
  setMain(h('h1', { text: a.name }),
    a.description ? h('p', { text: a.description }) : null,
    h('p.muted', {}, 'Automation ', h('code', { text: a.id }), ' · ',
      h('a', { href: '#/runs?automation=' + encodeURIComponent(a.id), text: 'its runs' })),
    form);
}

// ---- run list ----

async function viewRuns(seq, query) {
  const filt = {
    automation: query.get('automation') || '',
    state: query.get('state') || '',
    user: query.get('user') || '',
  };
  const qs = new URLSearchParams({ limit: '100' });
  for (const [k, v] of Object.entries(filt)) if (v) qs.set(k, v);
  let data, autos;
  try {
    [data, autos] = await Promise.all([api('GET', '/api/v1/runs?' + qs), api('GET', '/api/v1/automations')]);
  } catch (e) { return errorView('Runs', e); }
  if (seq !== viewSeq) return;
  const runs = new Map(data.runs.map((r) => [r.id, r]));

  const fAut = h('select', { id: 'f-automation' }, h('option', { value: '', text: 'All' }),
    autos.automations.map((a) => h('option', { value: a.id, text: a.name })));
  const fState = h('select', { id: 'f-state' }, h('option', { value: '', text: 'All' }),
    STATES.map((s) => h('option', { value: s, text: s.replace('_', ' ') })));
  const fUser = h('input', { id: 'f-user', type: 'text', placeholder: 'any user' });
  fAut.value = filt.automation; fState.value = filt.state; fUser.value = filt.user;
  const filters = h('form.filters', { id: 'run-filters', role: 'search' },
    h('div.field', {}, h('label', { for: 'f-automation', text: 'Automation' }), fAut),
    h('div.field', {}, h('label', { for: 'f-state', text: 'State' }), fState),
    h('div.field', {}, h('label', { for: 'f-user', text: 'User' }), fUser),
    h('button.secondary', { type: 'submit', text: 'Filter' }));
  filters.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const q = new URLSearchParams();
    if (fAut.value) q.set('automation', fAut.value);
    if (fState.value) q.set('state', fState.value);
    if (fUser.value.trim()) q.set('user', fUser.value.trim());
    location.hash = '#/runs' + (q.toString() ? '?' + q : '');
  });
  fAut.addEventListener('change', () => filters.requestSubmit());
  fState.addEventListener('change', () => filters.requestSubmit());

  const tbody = h('tbody', { id: 'runs-body' });
  const empty = h('p.muted', { text: 'No runs yet.', hidden: true });
  function matches(r) {
    return (!filt.automation || r.automation === filt.automation) &&
      (!filt.state || r.state === filt.state) && (!filt.user || r.user === filt.user);
  }
  function row(r) {
    return h('tr', { 'data-run': r.id, 'data-state': r.state },
      h('td', {}, h('a', { href: '#/runs/' + r.id, text: r.id })),
      h('td', { text: r.automation }),
      h('td', {}, stateBadge(r.state)),
      h('td.wide', { text: r.user }),
      h('td.wide', { text: fmtTime(r.created_at) }),
      h('td.num', { text: fmtDuration(r) }),
      h('td.num', { text: r.exit_code === null ? '—' : r.exit_code }),
      h('td.wide.num', { text: fmtUsage(r) }));
  }
  function draw() {
    const list = [...runs.values()].filter(matches);
    list.sort((x, y) => {
      const ax = ACTIVE.includes(x.state), ay = ACTIVE.includes(y.state);
      if (ax !== ay) return ax ? -1 : 1;
      return (y.created_at || '').localeCompare(x.created_at || '');
    });
    tbody.replaceChildren(...list.slice(0, 200).map(row));
    empty.hidden = list.length > 0;
  }
  draw();
  setMain(h('h1', { text: 'Runs' }), filters,
    h('div.table-wrap', {}, h('table', { id: 'runs-table' },
      h('caption.muted', { text: 'Running first, then history; updates live.', style: null }),
      h('thead', {}, h('tr', {}, ['Run', 'Automation', 'State', 'User', 'Created', 'Duration', 'Exit', 'Usage']
        .map((t, i) => h('th' + ([3, 4, 7].includes(i) ? '.wide' : ''), { scope: 'col', text: t })))),
      tbody)), empty);
  stream('/api/v1/runs/events', {
    run: (ev) => {
      const r = JSON.parse(ev.data), old = runs.get(r.id);
      // A finished run never goes back to an active state.
      if (old && !ACTIVE.includes(old.state) && ACTIVE.includes(r.state)) return;
      runs.set(r.id, r);
      draw();
    },
    resync: () => route(),
  });
  // Durations of running runs tick.
  live.push(setInterval(() => { if ([...runs.values()].some((r) => ACTIVE.includes(r.state))) draw(); }, 1000));
}

// ---- one run ----

async function viewRun(seq, id) {
  let run;
  try { run = await api('GET', '/api/v1/runs/' + encodeURIComponent(id)); } catch (e) { return errorView('Run ' + id, e); }
  if (seq !== viewSeq) return;
  const log = h('pre.log', { id: 'log', tabindex: '0', 'aria-label': 'Run output', 'aria-live': 'off' });
  const facts = h('dl.facts', { id: 'run-facts' });
  const stateEl = h('span', { id: 'run-state' });
  const follow = h('input', { type: 'checkbox', id: 'follow', checked: true });
  const stopBtn = h('button.danger', { type: 'button', id: 'stop', text: 'Stop' });
  const againBtn = h('a.button.secondary', { id: 'again', href: '#/automations/' + encodeURIComponent(run.automation) + '?from=' + run.id, text: 'Run again' });
  const dlBtn = h('button.secondary', { type: 'button', id: 'download', text: 'Download log' });
  let canRun = false;
  try { canRun = (await api('GET', '/api/v1/automations/' + encodeURIComponent(run.automation))).can_run; } catch (e) { canRun = false; }

  function drawFacts() {
    stateEl.replaceChildren(stateBadge(run.state));
    const rows = [
      ['Automation', h('a', { href: '#/automations/' + encodeURIComponent(run.automation), text: run.automation })],
      ['State', stateBadge(run.state)],
      ['User', run.user],
      ['Created', fmtTime(run.created_at)],
      ['Started', fmtTime(run.started_at)],
      ['Finished', fmtTime(run.finished_at)],
      ['Duration', fmtDuration(run)],
      ['Exit code', run.exit_code === null ? '—' : String(run.exit_code)],
      ['Reason', run.reason || '—'],
      ['Usage', fmtUsage(run)],
      ['Executor', run.executor],
    ];
    facts.replaceChildren(...rows.flatMap(([k, v]) => [h('dt', { text: k }), h('dd', {}, v)]));
    stopBtn.hidden = !canRun || !ACTIVE.includes(run.state);
    stopBtn.disabled = run.stop_requested;
    againBtn.hidden = !canRun;
  }
  const params = Object.entries(run.parameters || {});
  const paramTable = params.length ? h('div.table-wrap', {}, h('table', { id: 'run-params' },
    h('thead', {}, h('tr', {}, h('th', { scope: 'col', text: 'Parameter' }), h('th', { scope: 'col', text: 'Value' }))),
    h('tbody', {}, params.map(([k, v]) => h('tr', {}, h('td', { text: k }), h('td', { text: JSON.stringify(v) }))))))
    : h('p.muted', { text: 'No parameters.' });

  stopBtn.addEventListener('click', async () => {
    if (!(await confirmDialog('Stop run ' + run.id + ' of ' + run.automation + '? It will be cancelled.'))) return;
    stopBtn.disabled = true;
    try {
      // The live stream may already have told us the run ended: keep that
      // rather than the (older) state in this answer.
      await api('POST', '/api/v1/runs/' + run.id + '/stop');
      run.stop_requested = true;
      drawFacts();
    } catch (e) {
      stopBtn.disabled = false;
      banner(explain(e), 'error');
    }
  });
  dlBtn.addEventListener('click', () => downloadLog(run.id));
  follow.addEventListener('change', () => { if (follow.checked) log.scrollTop = log.scrollHeight; });

  drawFacts();
  setMain(h('h1', {}, 'Run ', h('code', { text: run.id }), ' ', stateEl),
    h('div.actions', {}, stopBtn, againBtn),
    h('h2', { text: 'Output' }),
    h('div.log-bar', {},
      h('label.check', { for: 'follow' }, follow, 'Follow output'),
      h('span.muted', { id: 'log-status', 'aria-live': 'polite', text: 'Connecting…' }),
      dlBtn),
    log,
    h('h2', { text: 'Details' }), h('div.card', {}, facts),
    h('h2', { text: 'Parameters' }), paramTable);

  const status = $('#log-status');
  stream('/api/v1/runs/' + encodeURIComponent(run.id) + '/events', {
    state: (ev) => {
      const r = JSON.parse(ev.data);
      if (!ACTIVE.includes(run.state) && ACTIVE.includes(r.state)) return; // stale
      run = r;
      drawFacts();
      if (ACTIVE.includes(run.state)) status.textContent = 'Live';
    },
    log: (ev) => {
      log.append(ev.data);
      if (follow.checked) log.scrollTop = log.scrollHeight;
    },
    end: (ev) => {
      run = JSON.parse(ev.data);
      drawFacts();
      status.textContent = 'Finished: ' + run.state.replace('_', ' ');
      // The run is over: stop listening (EventSource would reconnect).
      for (const x of live) if (x.close) x.close();
      live = live.filter((x) => !x.close);
    },
  });
  live.push(setInterval(() => { if (ACTIVE.includes(run.state)) drawFacts(); }, 1000));
}

// The whole (masked) log, fetched in pieces, saved as a file.
async function downloadLog(id) {
  const parts = [];
  let offset = 0;
  for (let i = 0; i < 1000; i++) {
    let resp;
    try {
      resp = await fetch('/api/v1/runs/' + id + '/log?offset=' + offset, { credentials: 'same-origin' });
    } catch (e) { banner('Download failed: the server cannot be reached.', 'error'); return; }
    if (!resp.ok) { banner('Download failed (status ' + resp.status + ').', 'error'); return; }
    const buf = await resp.arrayBuffer();
    parts.push(buf);
    const next = Number(resp.headers.get('X-Log-Next-Offset'));
    const size = Number(resp.headers.get('X-Log-Size'));
    if (buf.byteLength === 0 || next >= size) break;
    offset = next;
  }
  const url = URL.createObjectURL(new Blob(parts, { type: 'text/plain' }));
  const a = h('a', { href: url, download: id + '.log' });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

function confirmDialog(text) {
  const d = $('#confirm');
  $('#confirm-text').textContent = text;
  return new Promise((resolve) => {
    d.addEventListener('close', () => resolve(d.returnValue === 'ok'), { once: true });
    d.returnValue = '';
    d.showModal();
    $('#confirm-no').focus();
  });
}

// ---- admin ----

async function viewAdmin(seq) {
  if (me.role !== 'admin') {
    return errorView('Admin', new ApiError(403, { error: { message: 'the admin page needs the admin role; you are ' + me.role } }));
  }
  let users, tokens, audit;
  try {
    [users, tokens, audit] = await Promise.all([api('GET', '/api/v1/users'), api('GET', '/api/v1/tokens'),
      api('GET', '/api/v1/audit?limit=50')]);
  } catch (e) { return errorView('Admin', e); }
  if (seq !== viewSeq) return;
  const msg = h('p', { id: 'admin-msg', role: 'status' });

  const userRows = users.users.map((u) => {
    const pw = h('input', { type: 'password', id: 'pw-' + u.name, autocomplete: 'new-password', 'aria-label': 'New password for ' + u.name });
    const setPw = h('button.secondary', { type: 'button', text: 'Set password' });
    setPw.addEventListener('click', async () => {
      try { await api('POST', '/api/v1/users/' + encodeURIComponent(u.name) + '/password', { password: pw.value }); msg.textContent = 'Password of ' + u.name + ' set.'; pw.value = ''; } catch (e) { msg.textContent = explain(e); }
    });
    const toggle = h('button.secondary', { type: 'button', text: u.disabled ? 'Enable' : 'Disable' });
    toggle.addEventListener('click', async () => {
      try { await api('POST', '/api/v1/users/' + encodeURIComponent(u.name) + '/disabled', { disabled: !u.disabled }); route(); } catch (e) { msg.textContent = explain(e); }
    });
    return h('tr', {}, h('td', { text: u.name }), h('td', { text: u.role }), h('td', { text: u.disabled ? 'disabled' : 'active' }),
      h('td', {}, h('div.actions', {}, pw, setPw, toggle)));
  });
  const nuName = h('input', { id: 'nu-name', type: 'text', required: true, autocomplete: 'off' });
  const nuRole = h('select', { id: 'nu-role' }, ROLES.map((r) => h('option', { value: r, text: r })));
  const nuPw = h('input', { id: 'nu-pw', type: 'password', autocomplete: 'new-password' });
  const addUser = h('form.card', { id: 'add-user', novalidate: true },
    h('h3', { text: 'Add a user' }),
    h('div.field', {}, h('label', { for: 'nu-name', text: 'Name' }), nuName),
    h('div.field', {}, h('label', { for: 'nu-role', text: 'Role' }), nuRole),
    h('div.field', {}, h('label', { for: 'nu-pw', text: 'Password (at least 8 characters)' }), nuPw),
    h('button', { type: 'submit', text: 'Add user' }));
  addUser.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    try {
      await api('POST', '/api/v1/users', { name: nuName.value.trim(), role: nuRole.value });
      if (nuPw.value) await api('POST', '/api/v1/users/' + encodeURIComponent(nuName.value.trim()) + '/password', { password: nuPw.value });
      route();
    } catch (e) { msg.textContent = explain(e); }
  });

  const tokRows = tokens.tokens.map((t) => {
    const rev = h('button.secondary', { type: 'button', text: 'Revoke', disabled: t.revoked });
    rev.addEventListener('click', async () => {
      if (!(await confirmDialog('Revoke token ' + t.id + ' of ' + t.user + '? Scripts using it stop working.'))) return;
      try { await api('DELETE', '/api/v1/tokens/' + t.id); route(); } catch (e) { msg.textContent = explain(e); }
    });
    return h('tr', {}, h('td', { text: t.id }), h('td', { text: t.user }), h('td', { text: t.label || '' }),
      h('td.wide', { text: fmtTime(t.created_at) }), h('td.wide', { text: fmtTime(t.last_used_at) }),
      h('td', { text: t.revoked ? 'revoked' : 'active' }), h('td', {}, rev));
  });
  const ntUser = h('input', { id: 'nt-user', type: 'text', required: true });
  const ntLabel = h('input', { id: 'nt-label', type: 'text' });
  const newTok = h('div', { id: 'new-token' });
  const addTok = h('form.card', { id: 'add-token', novalidate: true },
    h('h3', { text: 'Create an API token' }),
    h('div.field', {}, h('label', { for: 'nt-user', text: 'For user' }), ntUser),
    h('div.field', {}, h('label', { for: 'nt-label', text: 'Label' }), ntLabel),
    h('button', { type: 'submit', text: 'Create token' }), newTok);
  addTok.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    try {
      const t = await api('POST', '/api/v1/tokens', { user: ntUser.value.trim(), label: ntLabel.value || undefined });
      newTok.replaceChildren(h('p', { text: 'Copy this token now; it is not shown again:' }), h('p.token-box', { text: t.token }));
    } catch (e) { msg.textContent = explain(e); }
  });

  const auditRows = audit.entries.map((e) => h('tr', {}, h('td', { text: fmtTime(e.at) }), h('td', { text: e.actor }),
    h('td', { text: e.action }), h('td', { text: e.target || '' }),
    h('td.wide', { text: e.detail ? JSON.stringify(e.detail) : '' })));

  setMain(h('h1', { text: 'Admin' }), msg,
    h('h2', { text: 'Users' }),
    h('div.table-wrap', {}, h('table', { id: 'users' }, h('thead', {}, h('tr', {}, ['Name', 'Role', 'Status', 'Actions'].map((t) => h('th', { scope: 'col', text: t })))),
      h('tbody', {}, userRows))), addUser,
    h('h2', { text: 'API tokens' }),
    h('div.table-wrap', {}, h('table', { id: 'tokens' }, h('thead', {}, h('tr', {}, ['Id', 'User', 'Label', 'Created', 'Last used', 'Status', ''].map((t, i) => h('th' + ([3, 4].includes(i) ? '.wide' : ''), { scope: 'col', text: t })))),
      h('tbody', {}, tokRows))), addTok,
    h('h2', { text: 'Audit log (newest first)' }),
    h('div.table-wrap', {}, h('table', { id: 'audit' }, h('thead', {}, h('tr', {}, ['When', 'Who', 'Action', 'Target', 'Detail'].map((t, i) => h('th' + (i === 4 ? '.wide' : ''), { scope: 'col', text: t })))),
      h('tbody', {}, auditRows))));
}

// ---- routing ----

function route() {
  stopLive();
  if (!me) return;
  const seq = ++viewSeq;
  const hash = location.hash.replace(/^#/, '') || '/';
  const [path, qs] = hash.split('?');
  const query = new URLSearchParams(qs || '');
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  const section = parts[0] === 'runs' ? 'runs' : parts[0] === 'admin' ? 'admin' : 'catalog';
  for (const a of document.querySelectorAll('#nav a')) {
    if (a.dataset.nav === section) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
  }
  $('#main').focus({ preventScroll: true });
  if (parts.length === 0) return viewCatalog(seq);
  if (parts[0] === 'automations' && parts[1]) return viewRunForm(seq, parts[1], query);
  if (parts[0] === 'runs' && parts[1]) return viewRun(seq, parts[1]);
  if (parts[0] === 'runs') return viewRuns(seq, query);
  if (parts[0] === 'admin') return viewAdmin(seq);
  return errorView('Not found', new ApiError(404, { error: { message: 'there is no page "' + hash + '"' } }));
}

async function start() {
  $('#signout').addEventListener('click', signOut);
  window.addEventListener('hashchange', route);
  window.addEventListener('offline', () => banner('You are offline. Live views reconnect when the network is back.', 'error'));
  window.addEventListener('online', () => banner(''));
  try {
    me = await api('GET', '/api/v1/session');
  } catch (e) {
    showLogin(e.status === 401 ? '' : explain(e));
    return;
  }
  afterSignIn();
}

start();
