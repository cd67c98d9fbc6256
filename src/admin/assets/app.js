// mock-chat-server dashboard: plain JavaScript, no build step, no dependency.
//
// Data comes from the live feed (`GET /__admin/live`, server-sent events: a
// snapshot, then batches of changes); every control is one documented admin
// API call made with `fetch`. Nothing that came from a request (keys, texts,
// headers, bodies) is ever inserted as HTML: the page builds DOM nodes and
// sets `textContent`.
//
// Sections: helpers · admin API · state · outcomes · header · requests table
// · details · chart · diagnostics · streams · chats · steering · feed ·
// rendering · boot.
'use strict';

(() => {
  // ---------------------------------------------------------------- helpers

  /** Rows kept in memory; older requests drop off (the journal keeps them). */
  const MAX_REQUESTS = 10000;
  /** Diagnostics, messages per chat, chats kept. */
  const MAX_DIAGNOSTICS = 500;
  const MAX_MESSAGES_PER_CHAT = 200;
  const MAX_CHATS = 200;
  /** Height of a table row in px: must match `--row-h` in style.css. */
  const ROW_H = 24;
  /** Seconds of history in the strip chart. */
  const CHART_SECONDS = 60;
  const SVG_NS = 'http://www.w3.org/2000/svg';

  const $ = (id) => document.getElementById(id);

  /** A new element with a class and text (as text, never as HTML). */
  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function svg(tag, attrs) {
    const node = document.createElementNS(SVG_NS, tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
    return node;
  }

  function clear(node) {
    while (node.firstChild) node.removeChild(node.firstChild);
  }

  /** Milliseconds from a number of ms, a serde `Duration` or a string. */
  function millis(value) {
    if (value === null || value === undefined) return null;
    if (typeof value === 'number') return value;
    if (typeof value === 'object' && 'secs' in value) {
      return value.secs * 1000 + Math.round((value.nanos || 0) / 1e6);
    }
    const n = Number(value);
    return Number.isFinite(n) ? n : null;
  }

  function fmtDuration(ms) {
    if (ms === null || ms === undefined) return '';
    if (ms < 10) return `${ms.toFixed(1)} ms`;
    if (ms < 1000) return `${Math.round(ms)} ms`;
    if (ms < 60000) return `${(ms / 1000).toFixed(ms < 10000 ? 2 : 1)} s`;
    return `${Math.floor(ms / 60000)} min ${Math.round((ms % 60000) / 1000)} s`;
  }

  function fmtUptime(ms) {
    const s = Math.max(0, Math.floor(ms / 1000));
    const h = Math.floor(s / 3600);
    const m = Math.floor((s % 3600) / 60);
    const pad = (n) => String(n).padStart(2, '0');
    return h > 0 ? `${h}:${pad(m)}:${pad(s % 60)}` : `${m}:${pad(s % 60)}`;
  }

  /** Time since the server started, short enough for its column. */
  function fmtSince(ms) {
    if (ms < 60000) return `+${(ms / 1000).toFixed(2)}s`;
    const s = ms / 1000;
    const h = Math.floor(s / 3600);
    const m = Math.floor((s % 3600) / 60);
    const sec = (s % 60).toFixed(h ? 0 : 1).padStart(h ? 2 : 4, '0');
    return h ? `${h}:${String(m).padStart(2, '0')}:${sec}` : `${m}:${sec}`;
  }

  /** `get_chats` → `get chats`. */
  const words = (name) => String(name || '').replace(/_/g, ' ');

  let toastTimer = 0;
  function toast(message, isError) {
    const node = $('toast');
    node.textContent = message;
    node.classList.toggle('error', Boolean(isError));
    node.classList.add('show');
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => node.classList.remove('show'), isError ? 6000 : 2500);
  }

  // -------------------------------------------------------------- admin API

  const API = {
    catalogue: '/__admin/catalogue',
    faults: '/__admin/faults',
    reset: '/__admin/reset',
    script: '/__admin/script',
    journal: '/__admin/journal',
    requests: '/__admin/requests',
    request: (seq) => `/__admin/requests/${encodeURIComponent(seq)}`,
    streams: (action) => `/__admin/streams/${action}`,
    inject: (chat) => `/__admin/chats/${encodeURIComponent(chat)}/messages`,
    holds: '/__admin/holds',
    hold: (route) => `/__admin/holds/${encodeURIComponent(route)}`,
    release: (id) => `/__admin/holds/${encodeURIComponent(id)}`,
    live: '/__admin/live',
  };

  /** An admin call: JSON in, JSON (or text) out; throws with the server's message. */
  async function call(method, url, body) {
    const init = { method, credentials: 'same-origin', headers: { Accept: 'application/json' } };
    if (body !== undefined) {
      init.headers['Content-Type'] = 'application/json';
      init.body = typeof body === 'string' ? body : JSON.stringify(body);
    }
    const res = await fetch(url, init);
    const type = res.headers.get('content-type') || '';
    const payload = type.includes('json') ? await res.json() : await res.text();
    if (!res.ok) {
      const error = new Error(typeof payload === 'string' ? payload.trim() : JSON.stringify(payload));
      error.status = res.status;
      error.payload = payload;
      throw error;
    }
    return payload;
  }

  /** Runs an admin call from a control: a toast says what happened. */
  async function act(label, method, url, body) {
    try {
      const result = await call(method, url, body);
      toast(label);
      return result;
    } catch (e) {
      toast(`${label}: failed (${e.status || 'network'}): ${e.message}`, true);
      throw e;
    }
  }

  // ------------------------------------------------------------------ state

  const state = {
    info: {},             // seed, plan, time scale, start, rerun command
    startedAt: null,      // Date.now() of the server's start, by our clock
    viewer: null,         // this page's feed connection id (holds are tied to it)
    catalogue: null,      // routes, faults, diagnostic rules
    requests: [],         // newest last, at most MAX_REQUESTS
    bySeq: new Map(),     // request seq → request
    view: [],             // the requests that pass the filters, newest first
    selected: null,       // seq of the selected request
    diagnostics: [],
    chats: new Map(),     // chat id → {id, name, messages: []}
    streams: new Map(),   // request seq of an open stream → {id, resumed, since}
    openStreams: 0,
    cuts: 0,              // streams cut, ended by the server, closed by the client
    ends: 0,
    left: 0,
    lastEvent: null,      // the newest event id delivered
    holds: new Map(),     // route → {id, waiting, viewer}
    plan: null,
    buckets: new Map(),   // second (server time, floor) → counts per outcome
  };

  // --------------------------------------------------------------- outcomes

  /** The chart's and the table's outcome classes, in legend order. */
  const OUTCOMES = [
    { id: 'ok', label: '200', pattern: 'pat-ok' },
    { id: 'empty', label: 'empty 200', pattern: 'pat-empty' },
    { id: '4xx', label: '4xx', pattern: 'pat-4xx' },
    { id: '503', label: '503', pattern: 'pat-503' },
    { id: '504', label: '504', pattern: 'pat-504' },
    { id: 'dropped', label: 'dropped', pattern: 'pat-dropped' },
  ];

  /** The outcome class of a request: one of OUTCOMES, `pending` or `other`. */
  function outcomeOf(req) {
    if (req.outcome) {
      const named = String(req.outcome).toLowerCase().replace(/[\s-]+/g, '_');
      const alias = { ok: 'ok', '200': 'ok', empty: 'empty', empty_200: 'empty',
        '4xx': '4xx', '503': '503', unavailable: '503', '504': '504', timeout: '504',
        dropped: 'dropped', truncated: 'dropped', pending: 'pending', held: 'pending' };
      if (alias[named]) return alias[named];
    }
    const fault = req.fault && (req.fault.kind || req.fault);
    if (fault === 'drop_before_commit' || fault === 'drop_after_commit' || fault === 'truncated_body') {
      return 'dropped';
    }
    const status = req.status;
    if (status === null || status === undefined) return 'dropped';
    if (status === 503) return '503';
    if (status === 504) return '504';
    if (status >= 400 && status < 500) return '4xx';
    if (status === 200) return req.empty ? 'empty' : 'ok';
    return status < 300 ? 'ok' : 'other';
  }

  function outcomeLabel(id) {
    const found = OUTCOMES.find((o) => o.id === id);
    if (found) return found.label;
    return id === 'pending' ? 'pending' : 'other';
  }

  /** The status cell's text: the code (or what happened instead) in words. */
  function statusText(req, outcome) {
    if (outcome === 'pending') return req.held ? 'held' : 'pending';
    if (outcome === 'dropped') {
      const fault = req.fault && (req.fault.kind || req.fault);
      return fault === 'truncated_body' ? `${req.status || 200} cut` : 'dropped';
    }
    if (outcome === 'empty') return '200 empty';
    return req.status ? String(req.status) : outcomeLabel(outcome);
  }

  function faultText(fault) {
    if (!fault) return '';
    if (typeof fault === 'string') return words(fault);
    const kind = words(fault.kind);
    if (fault.after_ms !== undefined) return `${kind} ${fmtDuration(fault.after_ms)}`;
    if (fault.copies !== undefined) return `${kind} ×${fault.copies}`;
    return kind;
  }

  // ---------------------------------------------------------------- header

  function renderHeader() {
    const info = state.info;
    $('fact-seed').textContent = info.seed_string ?? info.seed ?? '…';
    $('fact-plan').textContent = info.replaying ? `replaying ${info.replaying}` : (info.plan_words || '…');
    $('fact-plan').title = $('fact-plan').textContent;
    $('fact-scale').textContent = info.time_scale !== undefined ? `×${info.time_scale}` : '…';
    $('rerun-cmd').value = info.rerun || '';
    renderPresets();
    renderUptime();
  }

  function renderUptime() {
    if (state.startedAt !== null) $('fact-uptime').textContent = fmtUptime(Date.now() - state.startedAt);
  }

  $('rerun-copy').addEventListener('click', async () => {
    const text = $('rerun-cmd').value;
    try {
      await navigator.clipboard.writeText(text);
    } catch (_) {
      $('rerun-cmd').select();
      document.execCommand('copy');
    }
    toast('Command copied');
  });

  // --------------------------------------------------------- requests table

  const rowsViewport = $('rows');
  const rowsWindow = $('rows-window');
  const rowsSpacer = $('rows-spacer');

  /** The filters' values, read from the selects when they change. */
  let current = { route: '', outcome: '' };
  function filters() {
    return current;
  }

  function passes(req, f) {
    if (f.route && req.route !== f.route) return false;
    if (f.outcome && req._outcome !== f.outcome) return false;
    return true;
  }

  /** Rebuilds the filtered view (kept oldest first: new rows are pushed). */
  function refilter() {
    const f = filters();
    state.view = state.requests.filter((req) => passes(req, f));
    dirty.rows = true;
  }

  /** The request on display row `i` (row 0 is the newest). */
  const rowAt = (i) => state.view[state.view.length - 1 - i];

  /** The display row of request `seq`, or -1. */
  function rowOf(seq) {
    for (let i = state.view.length - 1; i >= 0; i -= 1) {
      if (state.view[i].seq === seq) return state.view.length - 1 - i;
    }
    return -1;
  }

  /** Adds (or updates) a request; keeps the view and the chart in step. */
  function upsertRequest(raw) {
    const req = normaliseRequest(raw);
    const known = state.bySeq.get(req.seq);
    if (known) {
      const before = known._outcome;
      Object.assign(known, req);
      known._outcome = outcomeOf(known);
      if (before !== known._outcome) {
        countOutcome(known, before, -1);
        countOutcome(known, known._outcome, 1);
        dirty.view = true;
      }
      dirty.rows = true;
      if (state.selected === known.seq) dirty.details = true;
      return;
    }
    req._outcome = outcomeOf(req);
    state.requests.push(req);
    state.bySeq.set(req.seq, req);
    countOutcome(req, req._outcome, 1);
    if (passes(req, filters())) {
      state.view.push(req);
      keepScrollAnchor(1);
    }
    if (state.requests.length > MAX_REQUESTS + 500) trimRequests();
    dirty.rows = true;
  }

  /** Drops the oldest requests beyond the bound, in one go (amortised). */
  function trimRequests() {
    const gone = state.requests.splice(0, state.requests.length - MAX_REQUESTS);
    for (const req of gone) state.bySeq.delete(req.seq);
    refilter();
  }

  function normaliseRequest(raw) {
    const req = Object.assign({}, raw);
    req.seq = Number(raw.seq);
    req.sinceMs = millis(raw.since_start_ms ?? raw.since_start);
    req.latencyMs = millis(raw.ms ?? raw.latency_ms);
    req.key = raw.key ?? raw.idempotency_key ?? (raw.headers && raw.headers.idempotency_key) ?? null;
    return req;
  }

  /** While the user looks further down, new rows on top do not move the view. */
  function keepScrollAnchor(added) {
    if (rowsViewport.scrollTop > 0) pendingScroll += added * ROW_H;
  }
  let pendingScroll = 0;

  function renderRows() {
    const total = state.view.length;
    rowsSpacer.style.height = `${total * ROW_H}px`;
    if (pendingScroll) {
      rowsViewport.scrollTop += pendingScroll;
      pendingScroll = 0;
    }
    const top = rowsViewport.scrollTop;
    const height = rowsViewport.clientHeight || 400;
    const first = Math.max(0, Math.floor(top / ROW_H) - 5);
    const last = Math.min(total, Math.ceil((top + height) / ROW_H) + 5);
    rowsWindow.style.transform = `translateY(${first * ROW_H}px)`;
    const rows = [];
    for (let i = first; i < last; i += 1) rows.push(rowNode(rowAt(i), i));
    rowsWindow.replaceChildren(...rows);
    const chosen = state.selected === null ? null : document.getElementById(`req-${state.selected}`);
    if (chosen) rowsViewport.setAttribute('aria-activedescendant', chosen.id);
    else rowsViewport.removeAttribute('aria-activedescendant');
    $('rows-empty').hidden = state.requests.length > 0;
    const shown = total === state.requests.length ? `${total}` : `${total} of ${state.requests.length}`;
    $('req-count').textContent = `${shown} request${state.requests.length === 1 ? '' : 's'}`;
  }

  function rowNode(req, index) {
    const row = el('div', 'req-row');
    row.setAttribute('role', 'option');
    row.id = `req-${req.seq}`;
    row.dataset.seq = String(req.seq);
    row.dataset.index = String(index);
    row.setAttribute('aria-selected', String(state.selected === req.seq));
    if (state.selected === req.seq) row.classList.add('selected');
    const outcome = req._outcome;
    const path = `${req.method || ''} ${req.path || ''}${req.query ? `?${req.query}` : ''}`;
    const cells = [
      el('span', 'seq', `#${req.seq}`),
      el('span', 'time', req.sinceMs !== null ? fmtSince(req.sinceMs) : ''),
      el('span', 'route', words(req.route) || '—'),
      el('span', 'path', path),
      el('span', `status o-${outcome}`, statusText(req, outcome)),
      el('span', 'fault', faultText(req.fault) || '–'),
      el('span', 'num', req.latencyMs !== null ? fmtDuration(req.latencyMs) : '–'),
      el('span', 'key', req.key || '–'),
    ];
    if (req.forced) cells[5].classList.add('forced');
    cells[3].title = path;
    cells[7].title = req.key || 'no Idempotency-Key';
    row.append(...cells);
    return row;
  }

  rowsViewport.addEventListener('scroll', () => { dirty.rows = true; schedule(); }, { passive: true });
  rowsViewport.addEventListener('click', (event) => {
    const row = event.target.closest('.req-row');
    if (row) select(Number(row.dataset.seq));
  });
  rowsViewport.addEventListener('keydown', (event) => {
    const index = state.selected === null ? -1 : rowOf(state.selected);
    const moves = { ArrowDown: 1, ArrowUp: -1, PageDown: 10, PageUp: -10, Home: -Infinity, End: Infinity };
    if (event.key in moves) {
      event.preventDefault();
      const next = Math.min(state.view.length - 1, Math.max(0, (index < 0 ? -1 : index) + moves[event.key]));
      if (rowAt(next)) select(rowAt(next).seq);
    } else if (event.key === 'Escape') {
      select(null);
    }
  });

  /** Selects a request (or none), scrolls it into view, opens its details. */
  function select(seq) {
    state.selected = seq;
    if (seq !== null) {
      let index = rowOf(seq);
      if (index < 0 && state.bySeq.has(seq)) {
        $('filter-route').value = '';
        $('filter-outcome').value = '';
        current = { route: '', outcome: '' };
        refilter();
        index = rowOf(seq);
      }
      if (index >= 0) scrollToIndex(index);
      // Again once the details pane has taken its room.
      revealSelected = true;
    }
    dirty.rows = true;
    dirty.details = true;
    schedule();
  }

  let revealSelected = false;

  /** Brings row `index` into view (centred, when it has to move). */
  function scrollToIndex(index) {
    const top = index * ROW_H;
    const height = rowsViewport.clientHeight;
    if (top < rowsViewport.scrollTop || top + ROW_H > rowsViewport.scrollTop + height) {
      rowsViewport.scrollTop = Math.max(0, top - (height - ROW_H) / 2);
    }
  }

  function onFilter() {
    current = { route: $('filter-route').value, outcome: $('filter-outcome').value };
    refilter();
    schedule();
  }
  $('filter-route').addEventListener('change', onFilter);
  $('filter-outcome').addEventListener('change', onFilter);

  function fillOutcomeFilter() {
    const select = $('filter-outcome');
    for (const o of [...OUTCOMES, { id: 'other', label: 'other' }]) {
      const option = el('option', null, o.label);
      option.value = o.id;
      select.append(option);
    }
  }

  function fillRouteFilter() {
    const select = $('filter-route');
    const current = select.value;
    clear(select);
    const all = el('option', null, 'all');
    all.value = '';
    select.append(all);
    for (const route of routes()) {
      const option = el('option', null, route.label);
      option.value = route.name;
      select.append(option);
    }
    select.value = current;
  }

  // ---------------------------------------------------------------- details

  /** Requests opened from a link but no longer in the table (a few). */
  const stubs = new Map();

  function stubFor(seq) {
    if (!stubs.has(seq)) {
      stubs.set(seq, { seq, sinceMs: null, latencyMs: null, _outcome: 'other', _stub: true });
      if (stubs.size > 20) stubs.delete(stubs.keys().next().value);
    }
    return stubs.get(seq);
  }

  function renderDetails() {
    let req = state.selected === null ? null : state.bySeq.get(state.selected);
    if (!req && state.selected !== null) req = stubFor(state.selected);
    $('details').hidden = !req;
    if (!req) return;
    const older = req._stub ? ' (older than the table)' : '';
    $('details-title').textContent = `#${req.seq} · ${req.method || ''} ${req.path || ''}${older}`;
    fillKv($('details-summary'), [
      ['route', words(req.route) || '—'],
      ['status', statusText(req, req._outcome)],
      ['outcome', outcomeLabel(req._outcome)],
      ['fault', faultText(req.fault) || 'none'],
      ['in server', req.latencyMs === null ? '' : fmtDuration(req.latencyMs)],
      ['at', req.sinceMs === null ? '' : `+${(req.sinceMs / 1000).toFixed(3)} s`],
      ['key', req.key || 'none'],
    ]);
    if (req._full) {
      showFull(req, req._full);
      return;
    }
    clear($('details-headers'));
    $('details-body').textContent = 'loading…';
    $('details-journal').textContent = 'loading…';
    loadFull(req.seq).then((full) => {
      req._full = full;
      if (req._stub && full.request) {
        Object.assign(req, normaliseRequest(full.request));
        req._outcome = outcomeOf(req);
      }
      // Title, summary and contents together (a stub has just learnt them).
      if (state.selected === req.seq) renderDetails();
    }, (e) => {
      $('details-body').textContent = `not available: ${e.message}`;
      $('details-journal').textContent = '';
    });
  }

  /** The recorded request and its journal entry: `{request, journal}`. */
  async function loadFull(seq) {
    try {
      return await call('GET', API.request(seq));
    } catch (e) {
      if (e.status !== 404 && e.status !== 405) throw e;
    }
    // An older server: the whole lists (heavy, but only on a click).
    const all = await call('GET', API.requests);
    const request = all.find((r) => r.seq === seq);
    if (!request) throw new Error('this request is no longer recorded');
    let journal = null;
    if (request.journal_seq) {
      const entries = await call('GET', API.journal);
      journal = entries.find((j) => j.seq === request.journal_seq) || null;
    }
    return { request, journal };
  }

  function showFull(req, full) {
    const r = full.request || {};
    const headers = r.headers && typeof r.headers === 'object' ? Object.entries(r.headers) : [];
    fillKv($('details-headers'), headers
      .filter(([, v]) => v !== null && v !== undefined)
      .map(([k, v]) => [k.replace(/_/g, '-'), String(v)]));
    if (!$('details-headers').children.length) $('details-headers').append(el('dd', 'muted', 'none recorded'));
    $('details-body').textContent = r.body ? String(r.body) : '(empty)';
    $('details-journal').textContent = full.journal ? JSON.stringify(full.journal, null, 2)
      : 'no journal entry (this request drew no chaos decision)';
  }

  function fillKv(dl, pairs) {
    clear(dl);
    for (const [k, v] of pairs) {
      if (v === '') continue;
      dl.append(el('dt', null, k), el('dd', null, v));
    }
  }

  $('details-close').addEventListener('click', () => { select(null); rowsViewport.focus(); });

  // ------------------------------------------------------------------ chart

  function secondOf(req) {
    if (req.sinceMs !== null) return Math.floor(req.sinceMs / 1000);
    return Math.floor((Date.now() - (state.startedAt || Date.now())) / 1000);
  }

  function countOutcome(req, outcome, delta) {
    if (!OUTCOMES.some((o) => o.id === outcome)) return;
    const second = secondOf(req);
    let bucket = state.buckets.get(second);
    if (!bucket) {
      bucket = {};
      state.buckets.set(second, bucket);
      for (const s of state.buckets.keys()) if (s < second - CHART_SECONDS * 2) state.buckets.delete(s);
    }
    bucket[outcome] = Math.max(0, (bucket[outcome] || 0) + delta);
    dirty.chart = true;
  }

  function renderLegend() {
    const legend = $('legend');
    for (const o of OUTCOMES) {
      const li = el('li');
      li.dataset.outcome = o.id;
      const swatch = svg('svg', { viewBox: '0 0 14 14', 'aria-hidden': 'true' });
      swatch.append(svg('rect', { width: 14, height: 14, fill: `url(#${o.pattern})` }));
      li.append(swatch, el('span', `status o-${o.id}`, o.label), el('span', 'count', '0'));
      legend.append(li);
    }
  }

  function renderChart() {
    const now = state.startedAt === null ? 0 : Math.floor((Date.now() - state.startedAt) / 1000);
    const from = now - CHART_SECONDS + 1;
    const totals = {};
    let peak = 1;
    for (let s = from; s <= now; s += 1) {
      const b = state.buckets.get(s);
      if (!b) continue;
      let sum = 0;
      for (const o of OUTCOMES) {
        sum += b[o.id] || 0;
        totals[o.id] = (totals[o.id] || 0) + (b[o.id] || 0);
      }
      peak = Math.max(peak, sum);
    }
    const width = 600 / CHART_SECONDS;
    const bars = [];
    for (let s = from; s <= now; s += 1) {
      const b = state.buckets.get(s);
      if (!b) continue;
      let y = 120;
      const x = (s - from) * width;
      for (const o of OUTCOMES) {
        const n = b[o.id] || 0;
        if (!n) continue;
        const h = (n / peak) * 112;
        y -= h;
        const rect = svg('rect', { x: x + 0.5, y, width: width - 1, height: h, fill: `url(#${o.pattern})` });
        const title = svg('title');
        title.textContent = `${now - s} s ago: ${n} × ${o.label}`;
        rect.append(title);
        bars.push(rect);
      }
    }
    $('chart-bars').replaceChildren(...bars);
    renderChartGrid(peak);
    for (const li of $('legend').children) {
      li.querySelector('.count').textContent = String(totals[li.dataset.outcome] || 0);
    }
  }

  function renderChartGrid(peak) {
    const lines = [];
    for (const f of [0.25, 0.5, 0.75]) {
      lines.push(svg('line', { x1: 0, x2: 600, y1: 120 - f * 112, y2: 120 - f * 112, class: 'grid-line' }));
    }
    const label = svg('title');
    label.textContent = `peak ${peak} per second`;
    lines.push(label);
    $('chart-grid').replaceChildren(...lines);
  }

  // ------------------------------------------------------------ diagnostics

  /** Each rule in one sentence, by kind (the catalogue's, when it has them). */
  const FALLBACK_RULES = {
    key_reused_for_different_message: 'One Idempotency-Key names one message: reusing it for another chat or text loses that message (empty 200).',
    concurrent_same_key: 'Wait for an attempt to end before retrying it: the same key on two open connections is a double send.',
    retry_without_backoff: 'Back off between retries: the same key retried within 10 ms three times is a retry storm.',
    missing_idempotency_key: 'Every POST carries an Idempotency-Key: the real server answers 400 without one.',
    reconnect_without_last_event_id: 'Reconnect a stream with Last-Event-ID: without it the whole log is replayed.',
    reconnect_storm: 'Reconnect with a delay: more than 5 stream connections in 1 s is a storm.',
    preflight_refused: 'Send only the methods and headers the server allows cross-origin: the browser blocks the rest.',
    resent_under_new_key: 'Resend a message under its first key: a new key after a lost answer stores it twice.',
  };

  function ruleOf(kind) {
    const fromCatalogue = state.catalogue && state.catalogue.rules && state.catalogue.rules[kind];
    return fromCatalogue || FALLBACK_RULES[kind] || '';
  }

  function addDiagnostic(d) {
    state.diagnostics.push(d);
    if (state.diagnostics.length > MAX_DIAGNOSTICS) state.diagnostics.shift();
    dirty.diagnostics = true;
  }

  function renderDiagnostics() {
    const list = $('diagnostics');
    const items = state.diagnostics.slice().reverse().map((d) => {
      const li = el('li');
      li.dataset.kind = d.kind;
      const head = el('div', 'line-head');
      head.append(el('span', 'diag-kind', d.title || words(d.kind)), document.createTextNode(' '));
      const link = el('button', 'quiet', `request #${d.request_seq}`);
      link.type = 'button';
      link.setAttribute('aria-label', `Show request #${d.request_seq}`);
      link.addEventListener('click', () => { select(Number(d.request_seq)); rowsViewport.focus(); });
      head.append(link);
      li.append(head, el('p', 'diag-rule', d.rule || ruleOf(d.kind)), el('p', 'diag-msg', d.message));
      return li;
    });
    list.replaceChildren(...items);
    $('diag-count').textContent = String(state.diagnostics.length);
    $('diag-empty').hidden = state.diagnostics.length > 0;
  }

  // ---------------------------------------------------------------- streams

  function renderStreams() {
    $('streams-count').textContent = String(state.openStreams);
    $('streams-cuts').textContent = String(state.cuts);
    $('streams-ends').textContent = String(state.ends);
    $('streams-left').textContent = String(state.left);
    $('streams-last').textContent = state.lastEvent === null ? '–' : `#${state.lastEvent}`;
    const items = [...state.streams.values()].map((s) => {
      const li = el('li');
      const link = el('button', 'quiet', `request #${s.id}`);
      link.type = 'button';
      link.addEventListener('click', () => select(s.id));
      li.append(link, el('span', 'muted', s.resumed ? 'resumed with Last-Event-ID' : 'from the start'));
      return li;
    });
    const unseen = state.openStreams - state.streams.size;
    if (unseen > 0) items.push(el('li', 'muted', `${unseen} opened before this page connected`));
    $('streams').replaceChildren(...items);
  }

  // ------------------------------------------------------------------ chats

  function upsertChat(chat) {
    const id = String(chat.id);
    const known = state.chats.get(id);
    if (known) {
      if (chat.name) known.name = chat.name;
    } else {
      state.chats.set(id, { id, name: chat.name || '', messages: [] });
      if (state.chats.size > MAX_CHATS) state.chats.delete(state.chats.keys().next().value);
      dirty.chatList = true;
    }
    dirty.chats = true;
  }

  /** A message delivered `copies` times (again: its count is updated). */
  function addMessage(message, copies, chatId) {
    if (!message) return;
    const id = String(chatId ?? message.chat_id);
    if (!state.chats.has(id)) upsertChat({ id, name: '' });
    const chat = state.chats.get(id);
    const known = chat.messages.find((m) => String(m.message.id) === String(message.id));
    if (known) {
      known.copies = copies ?? known.copies;
    } else {
      chat.messages.push({ message, copies: copies ?? 1 });
      if (chat.messages.length > MAX_MESSAGES_PER_CHAT) chat.messages.shift();
    }
    dirty.chats = true;
  }

  function renderChats() {
    const blocks = [...state.chats.values()].map((chat) => {
      const block = el('article', 'chat');
      const name = el('div', 'chat-name');
      name.append(el('span', null, chat.name || '(unnamed)'), el('span', 'mono', chat.id));
      const list = el('ul', 'msgs');
      for (const m of chat.messages.slice(-30)) list.append(messageNode(m));
      if (!chat.messages.length) list.append(el('li', 'muted', 'no message'));
      block.append(name, list);
      return block;
    });
    $('chats').replaceChildren(...blocks);
    $('chats-count').textContent = String(state.chats.size);
  }

  function messageNode({ message, copies }) {
    const author = String(message.author || '').toLowerCase();
    const li = el('li', `msg ${author}`);
    const copiesNode = el('span', `copies${copies > 1 ? ' dup' : ''}`, `${copies}× sent`);
    copiesNode.title = `delivered ${copies} time${copies === 1 ? '' : 's'} on the stream`;
    const text = el('span', 'text', message.text);
    text.title = `message ${message.id}`;
    li.append(el('span', 'who', author || '?'), text, copiesNode);
    return li;
  }

  function renderChatChoice() {
    const select = $('inject-chat');
    const current = select.value;
    clear(select);
    for (const chat of state.chats.values()) {
      const option = el('option', null, chat.name || chat.id);
      option.value = chat.id;
      select.append(option);
    }
    if (current && state.chats.has(current)) select.value = current;
  }

  // --------------------------------------------------------------- steering

  /** The routes, from the catalogue: {name, label, faults: [fault names]}. */
  function routes() {
    return (state.catalogue && state.catalogue.routes) || [];
  }

  function faultByName(name) {
    return ((state.catalogue && state.catalogue.faults) || []).find((f) => f.name === name) || { name };
  }

  /** A button's short label for a fault: its own, else the status it gives, else its name. */
  function shortLabel(fault) {
    if (fault.short) return fault.short;
    const code = String(fault.words || '').match(/\b[1-5]\d\d\b/);
    return code ? code[0] : words(fault.name);
  }

  // Presets: the buttons are in the page; the catalogue may add more.
  function renderPresets() {
    const group = document.querySelector('.segmented[aria-label="Preset"]');
    const names = (state.catalogue && state.catalogue.presets) || [];
    const have = new Set([...group.querySelectorAll('[data-preset]')].map((b) => b.dataset.preset));
    for (const name of names) {
      if (have.has(name)) continue;
      const button = el('button', null, name);
      button.type = 'button';
      button.dataset.preset = name;
      group.append(button);
    }
    for (const button of group.querySelectorAll('[data-preset]')) {
      button.setAttribute('aria-pressed', String(button.dataset.preset === currentPreset()));
    }
  }

  /** The preset the plan's words name first (`hostile: …`), if any. */
  function currentPreset() {
    const m = String(state.info.plan_words || '').match(/^([a-z]+)\b/);
    return m ? m[1] : null;
  }

  document.querySelector('.segmented[aria-label="Preset"]').addEventListener('click', (event) => {
    const button = event.target.closest('[data-preset]');
    if (!button) return;
    const preset = button.dataset.preset;
    act(`Plan: ${preset}`, 'PUT', API.faults, { preset }).catch(() => {});
  });

  function showPlan(plan) {
    state.plan = plan;
    if (!$('plan-editor').open) $('plan-json').value = JSON.stringify(plan, null, 2);
  }

  $('plan-load').addEventListener('click', () => {
    if (state.plan) $('plan-json').value = JSON.stringify(state.plan, null, 2);
    clear($('plan-errors'));
  });

  $('plan-apply').addEventListener('click', async () => {
    const text = $('plan-json').value;
    const errors = $('plan-errors');
    clear(errors);
    try {
      JSON.parse(text);
    } catch (e) {
      errors.append(errorItem('JSON', e.message));
      return;
    }
    try {
      await call('PUT', API.faults, text);
      toast('Plan applied');
    } catch (e) {
      const [field, reason] = fieldError(e);
      errors.append(errorItem(field, reason));
      selectField(field);
    }
  });

  /** Selects the line of `route.field` in the editor, so the error points at it. */
  function selectField(field) {
    const area = $('plan-json');
    const text = area.value;
    let at = 0;
    for (const part of String(field).split('.')) {
      const found = text.indexOf(`"${part}"`, at);
      if (found < 0) return;
      at = found;
    }
    const start = text.lastIndexOf('\n', at) + 1;
    const end = text.indexOf('\n', at);
    area.focus();
    area.setSelectionRange(start, end < 0 ? text.length : end);
  }

  /** A refused plan's error as `[field, reason]`. */
  function fieldError(e) {
    const p = e.payload;
    if (p && typeof p === 'object') return [p.field || 'plan', p.reason || p.error || JSON.stringify(p)];
    return ['plan', e.message];
  }

  function errorItem(field, message) {
    const li = el('li');
    li.append(el('code', null, field), document.createTextNode(`: ${message}`));
    return li;
  }

  /** One row of buttons per route, one button per fault the route takes. */
  function renderForceTable() {
    const table = $('force-table');
    clear(table);
    for (const route of routes()) {
      if (!route.faults.length) continue;
      const line = el('div', 'force-route');
      const buttons = el('div');
      for (const name of route.faults) buttons.append(forceButton(route, faultByName(name)));
      line.append(el('span', null, route.label), buttons);
      table.append(line);
    }
    if (!table.children.length) table.append(el('p', 'empty', 'The fault catalogue is not loaded.'));
  }

  function forceButton(route, fault) {
    const short = shortLabel(fault);
    const button = el('button', null, short);
    button.type = 'button';
    button.dataset.route = route.name;
    button.dataset.fault = fault.name;
    const sentence = `${short} on the next ${route.label}`;
    button.setAttribute('aria-label', sentence);
    button.title = fault.words ? `${sentence}: ${fault.words}` : sentence;
    button.addEventListener('click', () => {
      const count = Math.min(100, Math.max(1, Number($('force-count').value) || 1));
      const label = count > 1 ? `${sentence} (${count} times)` : sentence;
      const body = { route: route.name, fault: fault.default || fault.name, count };
      act(label, 'POST', API.faults, body).catch(() => {});
    });
    return button;
  }

  $('dup-apply').addEventListener('click', () => {
    const copies = Math.min(100, Math.max(2, Number($('dup-copies').value) || 2));
    const route = (routes().find((r) => r.method === 'POST') || routes()[0] || { name: 'post_message' }).name;
    const fault = { kind: 'duplicate_event', copies };
    act(`Next message delivered ${copies} times`, 'POST', API.faults, { route, fault }).catch(() => {});
  });

  $('streams-end').addEventListener('click', () => {
    act('Open streams ended', 'POST', API.streams('end')).catch(() => {});
  });
  $('streams-cut').addEventListener('click', () => {
    act('Open streams cut', 'POST', API.streams('cut')).catch(() => {});
  });

  $('inject').addEventListener('submit', (event) => {
    event.preventDefault();
    const chat = $('inject-chat').value;
    const author = document.querySelector('input[name="author"]:checked').value;
    const text = $('inject-text').value;
    if (!chat) return;
    act(`Injected as ${author}`, 'POST', API.inject(chat), { author, text })
      .then(() => { $('inject-text').value = ''; }, () => {});
  });

  /** One hold toggle per route that answers requests (not the stream). */
  function renderHolds() {
    const box = $('holds');
    clear(box);
    for (const route of routes().filter((r) => !r.stream)) {
      const held = state.holds.get(route.name);
      const line = el('div', 'hold');
      line.dataset.route = route.name;
      const button = el('button', held ? 'primary' : null, held ? 'Release' : 'Hold');
      button.type = 'button';
      button.dataset.route = route.name;
      button.setAttribute('aria-pressed', String(Boolean(held)));
      button.setAttribute('aria-label', `${held ? 'Release' : 'Hold'} ${route.label}`);
      button.addEventListener('click', () => toggleHold(route));
      line.append(el('span', null, route.label));
      if (held) line.append(el('span', 'waiting', `${held.waiting || 0} waiting`));
      line.append(button);
      box.append(line);
    }
  }

  /** Holds a route for as long as this page's feed is connected, or releases it. */
  async function toggleHold(route) {
    const held = state.holds.get(route.name);
    try {
      if (held) {
        await act(`Released ${route.label}`, 'DELETE', API.release(held.id));
        state.holds.delete(route.name);
      } else {
        const body = state.viewer === null ? undefined : { viewer: state.viewer };
        const hold = await act(`Holding ${route.label}`, 'POST', API.hold(route.name), body);
        state.holds.set(route.name, { id: hold.id, waiting: 0, viewer: hold.viewer });
      }
      dirty.holds = true;
      schedule();
    } catch (_) { /* the toast says why */ }
  }

  /** While this page holds a route, how many requests wait (once a second). */
  async function pollHolds() {
    if (!state.holds.size) return;
    try {
      const holds = await call('GET', API.holds);
      for (const h of holds) {
        const mine = state.holds.get(h.route);
        if (mine && mine.id === h.id && mine.waiting !== h.waiting) {
          mine.waiting = h.waiting;
          dirty.holds = true;
        }
      }
      schedule();
    } catch (_) { /* the next poll tries again */ }
  }

  $('reset').addEventListener('click', () => {
    act('Reset', 'POST', API.reset).catch(() => {});
  });

  // ------------------------------------------------------------------- feed

  let source = null;
  let retryMs = 500;

  /** Opens the feed; a snapshot comes first, then `changes` frames. */
  function connect() {
    setFeedState('connecting', 'connecting…');
    source = new EventSource(API.live);
    source.addEventListener('open', () => { retryMs = 500; setFeedState('live', 'live'); });
    source.addEventListener('error', () => {
      // The browser reconnects by itself unless the server refused (CLOSED).
      if (source.readyState === EventSource.CLOSED) {
        source.close();
        explainRefusal();
        setTimeout(connect, retryMs);
        retryMs = Math.min(retryMs * 2, 10000);
      } else {
        setFeedState('connecting', 'reconnecting…');
      }
    });
    source.addEventListener('snapshot', (event) => withJson(event, applySnapshot));
    source.addEventListener('changes', (event) => withJson(event, (frame) => {
      for (const change of frame.changes || []) {
        const handler = CHANGES[change.type];
        if (handler) handler(change);
      }
    }));
  }

  // A page left for another (even one the browser keeps to come back to)
  // closes its feed, which releases its holds; coming back reconnects.
  window.addEventListener('pagehide', () => { if (source) source.close(); });
  window.addEventListener('pageshow', (event) => { if (event.persisted) connect(); });

  function withJson(event, apply) {
    let data;
    try {
      data = JSON.parse(event.data);
    } catch (_) {
      return;
    }
    apply(data);
    schedule();
  }

  /** Says why the server refused the feed (a token, too many viewers…). */
  async function explainRefusal() {
    const retry = `retrying in ${Math.max(1, Math.round(retryMs / 1000))} s`;
    setFeedState('down', `down; ${retry}`);
    try {
      const res = await fetch(API.live, { credentials: 'same-origin', headers: { Accept: 'application/json' } });
      if (res.ok) {
        if (res.body) res.body.cancel();
        return;
      }
      const why = res.status === 401
        ? 'not authorised: open the dashboard URL with ?token=… that the server printed'
        : (await res.text()).trim();
      setFeedState('down', `down (${res.status}: ${why}); ${retry}`);
    } catch (_) { /* the server is gone: "down" says it */ }
  }

  function setFeedState(kind, text) {
    const node = $('feed-state');
    node.dataset.state = kind;
    node.textContent = `feed ${text}`;
  }

  function applySnapshot(snap) {
    resetState();
    state.viewer = snap.viewer ?? null;
    state.info.seed = snap.seed;
    state.info.seed_string = snap.seed_string;
    state.info.time_scale = snap.time_scale;
    state.info.rerun = snap.rerun;
    if (snap.uptime_ms !== undefined) state.startedAt = Date.now() - snap.uptime_ms;
    if (snap.plan) CHANGES.plan(snap.plan);
    for (const c of snap.chats || []) {
      upsertChat(c.chat || c);
      for (const m of c.messages || []) addMessage(m.message || m, m.copies, (c.chat || c).id);
    }
    for (const r of snap.requests || []) upsertRequest(r);
    for (const d of snap.diagnostics || []) addDiagnostic(d);
    state.openStreams = (snap.streams && snap.streams.open) || 0;
    for (const h of snap.holds || []) setHold(h);
    Object.assign(dirty, ALL_DIRTY);
  }

  /** What each change of a `changes` frame does; unknown types are ignored. */
  const CHANGES = {
    request: upsertRequest,
    diagnostic: addDiagnostic,
    chat(c) { upsertChat(c.chat || c); },
    delivery(d) {
      addMessage(d.message, d.copies, d.chat_id);
      const ids = d.event_ids || [];
      if (ids.length) state.lastEvent = ids[ids.length - 1];
      dirty.streams = true;
    },
    stream_opened(s) {
      state.streams.set(s.request_seq, { id: s.request_seq, resumed: s.resumed, since: Date.now() });
      state.openStreams = s.open ?? state.streams.size;
      dirty.streams = true;
    },
    stream_closed(s) {
      state.streams.delete(s.request_seq);
      state.openStreams = s.open ?? state.streams.size;
      if (s.by === 'cut') state.cuts += 1;
      else if (s.by === 'server') state.ends += 1;
      else state.left += 1;
      dirty.streams = true;
    },
    hold(h) { setHold(h); },
    plan(p) {
      state.info.plan_words = p.words;
      // `replaying` is `true` (the words say so) or, from a file, its name.
      state.info.replaying = typeof p.replaying === 'string' ? p.replaying : null;
      if (p.plan) showPlan(p.plan);
      dirty.header = true;
    },
    reset() {
      // The feed sends no new snapshot after a reset: a new connection does.
      resetState();
      Object.assign(dirty, ALL_DIRTY);
      toast('The server was reset');
      if (source) source.close();
      connect();
    },
  };

  function setHold(h) {
    if (h.released) {
      for (const [route, held] of state.holds) if (held.id === h.id) state.holds.delete(route);
    } else {
      state.holds.set(h.route, { id: h.id, waiting: h.waiting || 0, viewer: h.viewer });
    }
    dirty.holds = true;
  }

  function resetState() {
    state.requests = [];
    state.bySeq.clear();
    state.view = [];
    state.selected = null;
    state.diagnostics = [];
    state.chats.clear();
    state.streams.clear();
    state.openStreams = 0;
    state.holds.clear();
    state.buckets.clear();
    state.cuts = 0;
    state.ends = 0;
    state.left = 0;
    state.lastEvent = null;
  }

  // -------------------------------------------------------------- rendering

  const ALL_DIRTY = { header: true, view: true, rows: true, details: true, chart: true,
    diagnostics: true, streams: true, chats: true, chatList: true, holds: true };
  const dirty = Object.assign({}, ALL_DIRTY);
  let frame = 0;

  /** Renders what changed, once per animation frame at most. */
  function schedule() {
    if (!frame) frame = requestAnimationFrame(render);
  }

  function render() {
    frame = 0;
    if (dirty.view) { refilter(); dirty.view = false; }
    if (dirty.header) { renderHeader(); dirty.header = false; }
    if (dirty.details) { renderDetails(); dirty.details = false; }
    if (revealSelected) {
      revealSelected = false;
      const index = rowOf(state.selected);
      if (index >= 0) scrollToIndex(index);
    }
    if (dirty.rows) { renderRows(); dirty.rows = false; }
    if (dirty.chart) { renderChart(); dirty.chart = false; }
    if (dirty.diagnostics) { renderDiagnostics(); dirty.diagnostics = false; }
    if (dirty.streams) { renderStreams(); dirty.streams = false; }
    if (dirty.chatList) { renderChatChoice(); dirty.chatList = false; }
    if (dirty.chats) { renderChats(); dirty.chats = false; }
    if (dirty.holds) { renderHolds(); dirty.holds = false; }
  }

  // ------------------------------------------------------------------- boot

  async function loadCatalogue() {
    try {
      state.catalogue = normaliseCatalogue(await call('GET', API.catalogue));
    } catch (e) {
      toast(`Cannot load the fault catalogue: ${e.message}`, true);
      state.catalogue = { routes: [], faults: [], presets: [], rules: {} };
    }
    fillRouteFilter();
    renderForceTable();
    Object.assign(dirty, { holds: true, diagnostics: true, header: true });
    schedule();
  }

  /** The catalogue as the page uses it. */
  function normaliseCatalogue(raw) {
    const routeList = (raw.routes || []).map((r) => ({
      name: r.name,
      method: r.method,
      label: r.method && r.path ? `${r.method} ${r.path}` : words(r.name),
      faults: r.faults || [],
      stream: (r.faults || []).some((f) => f.startsWith('stream_')) || /events/.test(r.path || ''),
    }));
    const rules = {};
    for (const d of raw.diagnostics || []) rules[d.kind] = d.rule;
    return { routes: routeList, faults: raw.faults || [], presets: raw.presets || [], rules };
  }

  fillOutcomeFilter();
  renderLegend();
  loadCatalogue();
  connect();
  setInterval(() => { renderUptime(); pollHolds(); dirty.chart = true; schedule(); }, 1000);
  schedule();
})();
