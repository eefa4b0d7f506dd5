// The jetstate inspector: fetches the read-only API of `jetstate ui` and draws it. Every value
// from the store is put on the page with textContent (never as HTML): node ids, errors and
// payloads are the engine's data, not ours to trust.
'use strict';

const SVG = 'http://www.w3.org/2000/svg';
const $ = (selector) => document.querySelector(selector);

function el(tag, attrs = {}, ...children) {
  const node = tag.startsWith('svg:') ? document.createElementNS(SVG, tag.slice(4)) : document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value !== undefined && value !== null) node.setAttribute(name, String(value));
  }
  for (const child of children) node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  return node;
}

async function api(path) {
  const response = await fetch(path, { headers: { Accept: 'application/json' } });
  const body = await response.json();
  if (!response.ok) throw new Error(`${body.code}: ${body.message}`);
  return body;
}

const time = (iso) => (iso ? iso.replace('T', ' ').replace(/(\.\d{3})\d*Z$/, '$1Z') : '-');
const status = (text) => el('span', { class: `status ${text}` }, text);

function fill(tableId, rows) {
  const body = $(`#${tableId} tbody`);
  body.replaceChildren(...rows);
  if (rows.length === 0) {
    const columns = $(`#${tableId} thead tr`).children.length;
    body.append(el('tr', {}, el('td', { colspan: columns, class: 'muted' }, 'none')));
  }
}

// ── Overview ─────────────────────────────────────────────────────────────────────────────────

async function showOverview() {
  const summary = await api('/api/status');
  $('#file').textContent = `${summary.file} · schema ${summary.schema_version} · ${summary.file_bytes} bytes`;
  const executions = Object.values(summary.executions).reduce((a, b) => a + b, 0);
  const cards = [
    ['executions', executions],
    ...Object.entries(summary.executions).map(([name, n]) => [name, n]),
    ['expired leases', summary.expired_leases],
    ['dead letters', summary.dead_letter],
    ['oldest pending', summary.oldest_pending ? time(summary.oldest_pending) : '-'],
  ];
  $('#cards').replaceChildren(
    ...cards.map(([label, value]) =>
      el('div', { class: 'card', 'data-card': label }, el('div', { class: 'value' }, value), el('div', { class: 'label' }, label)),
    ),
  );
  const queues = await api('/api/queues');
  const columns = ['ready', 'scheduled', 'claimed', 'completed', 'failed', 'dead_letter', 'cancelled'];
  fill(
    'queues',
    queues.map((q) => {
      const s = q.settings;
      const limits = [
        s.concurrency !== null ? `${s.concurrency} at once` : null,
        s.partition_concurrency !== null ? `${s.partition_concurrency} per partition` : null,
        s.rate_limit !== null ? `${s.rate_limit.claims} per ${duration(s.rate_limit.period_ms)}` : null,
      ].filter((limit) => limit !== null);
      return el(
        'tr',
        { 'data-queue': q.queue_type },
        el('td', {}, q.queue_type),
        el('td', { 'data-state': s.paused ? 'paused' : 'open' }, status(s.paused ? 'paused' : 'open')),
        el('td', { class: 'muted' }, limits.length ? limits.join(', ') : '-'),
        ...columns.map((c) => el('td', { 'data-status': c }, q[c] ?? 0)),
      );
    }),
  );
  const claimed = await api('/api/queue?status=claimed');
  fill(
    'claimed',
    claimed.map((entry) =>
      el(
        'tr',
        { 'data-item': entry.item.id },
        el('td', { class: 'id' }, entry.item.id),
        el('td', {}, entry.item.queue_type),
        el('td', {}, entry.item.node_id),
        el('td', {}, entry.item.worker_id ?? '-'),
        el('td', {}, time(entry.claimed_at)),
        el('td', {}, time(entry.item.lease_expires_at)),
        el('td', { class: 'progress' }, entry.progress === null ? '-' : JSON.stringify(entry.progress)),
      ),
    ),
  );
}

// ── Executions and the dead-letter queue ─────────────────────────────────────────────────────

async function showExecutions() {
  const form = new FormData($('#filters'));
  const query = new URLSearchParams();
  for (const [name, value] of form) if (String(value).trim() !== '') query.set(name, String(value).trim());
  let executions;
  try {
    executions = await api(`/api/executions?${query}`);
  } catch (error) {
    fill('executions', [el('tr', {}, el('td', { colspan: 6, class: 'error' }, error.message))]);
    return;
  }
  fill(
    'executions',
    executions.map((e) => {
      const row = el(
        'tr',
        { class: 'link', 'data-execution': e.execution_id },
        el('td', { class: 'id' }, e.execution_id),
        el('td', {}, e.workflow_id),
        el('td', {}, e.workflow_version),
        el('td', {}, status(e.status)),
        el('td', {}, e.tenant_id ?? 'default'),
        el('td', {}, time(e.updated_at)),
      );
      row.addEventListener('click', () => { location.hash = `#/executions/${e.execution_id}`; });
      return row;
    }),
  );
}

async function showDeadLetters() {
  const entries = await api('/api/dlq');
  fill(
    'dlq',
    entries.map(({ item, last_error }) =>
      el(
        'tr',
        { 'data-item': item.id },
        el('td', { class: 'id' }, item.id),
        el('td', {}, item.queue_type),
        el('td', {}, item.node_id),
        el('td', {}, `${item.attempt}/${item.max_attempts}`),
        el('td', { class: 'id' }, item.execution_id),
        el('td', { class: 'error' }, last_error ?? '-'),
      ),
    ),
  );
}

// ── One execution: fields, timeline, events, state ───────────────────────────────────────────

const FAILURES = new Set([
  'budget_exceeded', 'token_budget_exceeded', 'cost_budget_exceeded', 'autonomy_limit_reached',
  'circuit_breaker_tripped', 'policy_violation', 'strategy_limit_hit', 'agent_tool_terminated',
]);

/** What a marker means: a failure, a retry, a completion, a start, or something else. */
function category(kind) {
  const type = kind.type;
  if (type.endsWith('_failed') || FAILURES.has(type)) return 'failure';
  if (type === 'retry_scheduled' || (type === 'node_started' && kind.attempt > 0)) return 'retry';
  if (type.endsWith('_completed') || type === 'approval_received' || type === 'timer_fired') return 'completed';
  if (type.endsWith('_started') || type === 'node_scheduled') return 'started';
  return 'other';
}

function duration(ms) {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 120000) return `${(ms / 1000).toFixed(ms < 10000 ? 2 : 1)} s`;
  return `${(ms / 60000).toFixed(1)} min`;
}

/** Nodes as lanes, events on a time axis, each node's runs as bars, failures and retries marked. */
function timeline(events) {
  const width = 1040;
  const left = 130;
  const right = 24;
  const top = 28;
  const laneHeight = 34;
  const at = (e) => Date.parse(e.created_at);
  const start = events.length ? at(events[0]) : 0;
  const span = Math.max(events.length ? at(events[events.length - 1]) - start : 0, 1);
  const x = (e) => left + ((at(e) - start) / span) * (width - left - right);

  const lanes = ['workflow'];
  for (const e of events) if (e.kind.node_id && !lanes.includes(e.kind.node_id)) lanes.push(e.kind.node_id);
  const y = (lane) => top + lanes.indexOf(lane) * laneHeight + laneHeight / 2;
  const height = top + lanes.length * laneHeight + 8;
  const svg = el('svg:svg', { id: 'timeline', width, height, viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': 'event timeline' });

  const axis = el('svg:g', { class: 'axis' });
  for (let i = 0; i <= 5; i += 1) {
    const px = left + (i / 5) * (width - left - right);
    axis.append(el('svg:line', { class: 'gridline', x1: px, x2: px, y1: top - 6, y2: height - 8 }));
    axis.append(el('svg:text', { x: px, y: top - 12, 'text-anchor': i === 0 ? 'start' : i === 5 ? 'end' : 'middle' }, `+${duration((i / 5) * span)}`));
  }
  svg.append(axis);

  lanes.forEach((lane, index) => {
    const group = el('svg:g', { class: 'lane', 'data-lane': lane });
    if (index % 2 === 0) group.append(el('svg:rect', { class: 'lane-bg', x: 0, y: y(lane) - laneHeight / 2, width, height: laneHeight }));
    group.append(el('svg:text', { x: 10, y: y(lane) + 4 }, lane.length > 16 ? `${lane.slice(0, 15)}…` : lane));
    svg.append(group);
  });

  // A node's run: from node_started to the event that ends it; a run still open reaches the end.
  const open = new Map();
  const bar = (lane, from, to, outcome) => {
    const x1 = x(from);
    svg.append(el('svg:rect', { class: `span ${outcome}`, 'data-lane': lane, x: x1, y: y(lane) - 9, width: Math.max(x(to) - x1, 2), height: 18, rx: 4 }));
  };
  for (const e of events) {
    const node = e.kind.node_id;
    if (!node) continue;
    if (e.kind.type === 'node_started') open.set(node, e);
    const ended = { node_completed: 'ok', node_failed: 'failed', node_cancelled: 'failed', node_skipped: 'ok' }[e.kind.type];
    if (ended && open.has(node)) {
      bar(node, open.get(node), e, ended);
      open.delete(node);
    }
  }
  for (const [node, started] of open) bar(node, started, events[events.length - 1], 'open');

  for (const e of events) {
    const lane = e.kind.node_id ?? 'workflow';
    const kind = category(e.kind);
    const cx = x(e);
    const cy = y(lane);
    const title = el('svg:title', {}, `#${e.sequence} ${e.kind.type} at ${time(e.created_at)} (+${duration(at(e) - start)})${e.kind.error ? `: ${e.kind.error}` : ''}`);
    const attrs = { class: `marker ${kind}`, 'data-type': e.kind.type, 'data-category': kind, 'data-lane': lane, 'data-sequence': e.sequence };
    let marker;
    if (kind === 'failure') {
      marker = el('svg:path', { ...attrs, d: `M${cx - 6},${cy - 6}L${cx + 6},${cy + 6}M${cx + 6},${cy - 6}L${cx - 6},${cy + 6}` });
    } else if (kind === 'retry') {
      marker = el('svg:path', { ...attrs, d: `M${cx},${cy - 8}L${cx + 8},${cy}L${cx},${cy + 8}L${cx - 8},${cy}Z` });
    } else {
      marker = el('svg:circle', { ...attrs, cx, cy, r: 5.5 });
    }
    marker.append(title);
    svg.append(marker);
  }
  return svg;
}

async function showExecution(id) {
  $('#detail').hidden = false;
  $('#detail-id').textContent = id;
  $('#detail-error').hidden = true;
  let shown;
  try {
    shown = await api(`/api/executions/${encodeURIComponent(id)}`);
  } catch (error) {
    $('#detail-error').textContent = error.message;
    $('#detail-error').hidden = false;
    for (const part of ['#detail-fields', '#timeline-box', '#events tbody', '#state']) $(part).replaceChildren();
    return;
  }
  const { execution, materialized, events } = shown;
  const fields = [
    ['workflow', `${execution.workflow_id} version ${execution.workflow_version}`],
    ['status', status(execution.status)],
    ['from events', status(materialized.status)],
    ['started', time(execution.started_at)],
    ['updated', time(execution.updated_at)],
    ['completed', time(execution.completed_at)],
    ['events', events.length],
  ];
  $('#detail-fields').replaceChildren(...fields.flatMap(([name, value]) => [el('dt', {}, name), el('dd', {}, value)]));
  $('#timeline-box').replaceChildren(timeline(events));
  const first = events.length ? Date.parse(events[0].created_at) : 0;
  let previous = first;
  fill(
    'events',
    events.map((e) => {
      const now = Date.parse(e.created_at);
      const row = el(
        'tr',
        { 'data-category': category(e.kind) },
        el('td', {}, e.sequence),
        el('td', {}, time(e.created_at)),
        el('td', {}, `+${duration(now - previous)}`),
        el('td', {}, e.kind.type),
        el('td', {}, e.kind.node_id ?? ''),
      );
      previous = now;
      return row;
    }),
  );
  $('#state').textContent = JSON.stringify(materialized.current_state, null, 2);
  $('#detail').scrollIntoView({ block: 'start' });
}

// ── Routing ──────────────────────────────────────────────────────────────────────────────────

async function route() {
  const match = location.hash.match(/^#\/executions\/(.+)$/);
  if (match) {
    await showExecution(decodeURIComponent(match[1]));
  } else {
    $('#detail').hidden = true;
  }
  document.body.dataset.ready = 'true';
}

async function refresh() {
  document.body.dataset.ready = 'false';
  await Promise.all([showOverview(), showExecutions(), showDeadLetters()]);
  await route();
}

$('#filters').addEventListener('submit', async (event) => {
  event.preventDefault();
  document.body.dataset.ready = 'false';
  await showExecutions();
  document.body.dataset.ready = 'true';
});
$('#refresh').addEventListener('click', refresh);
window.addEventListener('hashchange', () => {
  document.body.dataset.ready = 'false';
  route();
});
refresh();
