// Orderly's pages: sign-in, the floor map, the nursing-station board and the biomed board.
// Plain script, no build step, no framework. Everything comes from the public API with the
// token the user signed in with (kept in this tab's sessionStorage only); live updates come
// from the Server-Sent Events stream, read with fetch so the token travels in the header.
'use strict';

const S = {
  token: sessionStorage.getItem('orderly.token'),
  me: JSON.parse(sessionStorage.getItem('orderly.me') || 'null'),
  fp: null,          // GET /api/v1/floorplan
  rooms: new Map(),  // room id -> room
  page: null,        // the page being shown: { ctrl: AbortController, timers: [] }
  audio: null,       // AudioContext, once the user allowed sound
  seenHigh: new Set(JSON.parse(sessionStorage.getItem('orderly.seenHigh') || '[]')),
};

// ---------- small helpers ----------

function h(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else if (k === 'class') e.className = v;
    else e.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

const SVG = 'http://www.w3.org/2000/svg';
function s(tag, attrs, ...children) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined) continue;
    if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

// Replaces `el`'s children with `nodes`, leaving out the empty ones (null, false).
function fill(el, ...nodes) {
  el.replaceChildren(...nodes.flat().filter((n) => n !== null && n !== undefined && n !== false));
}

function toast(text) {
  const t = h('div', {}, text);
  document.getElementById('toast').append(t);
  setTimeout(() => t.remove(), 6000);
}

function ago(ts) {
  const sec = Math.max(0, Math.round((Date.now() - Date.parse(ts)) / 1000));
  if (sec < 60) return `${sec} s`;
  const min = Math.floor(sec / 60);
  if (min < 60) return `${min} min`;
  const hrs = Math.floor(min / 60);
  return `${hrs} h ${min % 60} min`;
}

function when(ts) {
  if (!ts) return '';
  const d = new Date(ts);
  return d.toLocaleString([], { dateStyle: 'medium', timeStyle: 'short' });
}

function words(x) {
  return String(x || '').replaceAll('_', ' ');
}

function roomName(id) {
  const r = S.rooms.get(id);
  return r ? r.name : id;
}

class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

async function api(path, opts = {}) {
  const headers = { Authorization: `Bearer ${S.token}` };
  if (opts.body !== undefined) headers['Content-Type'] = 'application/json';
  const r = await fetch(path, {
    method: opts.method || (opts.body !== undefined ? 'POST' : 'GET'),
    headers,
    body: opts.body !== undefined ? JSON.stringify(opts.body) : undefined,
    signal: opts.signal,
  });
  if (r.status === 401) {
    signOut('Your sign-in has ended (the token was revoked or is wrong). Sign in again.');
    throw new ApiError(401, 'unauthenticated');
  }
  const text = await r.text();
  let data = text;
  try { data = JSON.parse(text); } catch (_) { /* plain text */ }
  if (!r.ok) throw new ApiError(r.status, (data && data.message) || text || r.statusText);
  return data;
}

// Runs an action from a button: disables it meanwhile, reports the API's refusal in words.
async function act(button, what, fn) {
  if (button) button.disabled = true;
  try {
    await fn();
    toast(`${what}: done`);
  } catch (e) {
    if (e.status !== 401) toast(`${what}: ${e.message}`);
  } finally {
    if (button) button.disabled = false;
  }
}

function setLive(on) {
  const l = document.getElementById('live');
  l.className = on ? 'live on' : 'live off';
  l.textContent = on ? 'Live' : 'Reconnecting…';
}

// Reads a Server-Sent Events stream with the token; reconnects with Last-Event-ID so nothing
// committed meanwhile is missed. `onOpen` runs at each (re)connection, before any event.
async function stream(path, onEvent, onOpen, signal) {
  let last = null;
  while (!signal.aborted) {
    try {
      const headers = { Authorization: `Bearer ${S.token}` };
      if (last) headers['Last-Event-ID'] = last;
      const r = await fetch(path, { headers, signal });
      if (r.status === 401) { signOut('Your sign-in has ended. Sign in again.'); return; }
      if (!r.ok) throw new Error(`stream: ${r.status}`);
      setLive(true);
      if (onOpen) await onOpen();
      const reader = r.body.getReader();
      const dec = new TextDecoder();
      let buf = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += dec.decode(value, { stream: true });
        let i;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          let ev = 'message'; let data = ''; let id = null;
          for (const line of block.split('\n')) {
            if (line.startsWith('event:')) ev = line.slice(6).trim();
            else if (line.startsWith('data:')) data += line.slice(5).trim();
            else if (line.startsWith('id:')) id = line.slice(3).trim();
          }
          if (id) last = id;
          if (!data) continue;
          if (ev === 'lagged') { if (onOpen) await onOpen(); continue; }
          try { onEvent(ev, JSON.parse(data)); } catch (e) { console.error(e); }
        }
      }
    } catch (e) {
      if (signal.aborted) return;
    }
    setLive(false);
    await new Promise((res) => setTimeout(res, 2000));
  }
}

// A function that runs `fn` soon after it is called, and at most once per `ms` however often
// it is called (a steady stream of events must not starve the refresh).
function throttle(fn, ms) {
  let t = null;
  let last = 0;
  return () => {
    if (t) return;
    t = setTimeout(() => { t = null; last = Date.now(); fn(); }, Math.max(0, last + ms - Date.now()));
  };
}

// Redraws `box` with `nodes`, keeping what the user typed, which sections were open and where
// the focus was, matched by the `keyAttr` of the enclosing card and the control's class: a live
// board redraws under a nurse typing a reason.
function redraw(box, nodes, keyAttr) {
  const key = (el) => {
    const owner = el.closest(`[${keyAttr}]`);
    return owner ? `${owner.getAttribute(keyAttr)}|${el.tagName}|${el.className}|${el.textContent.length}` : null;
  };
  const kept = new Map();
  let focus = null;
  for (const el of box.querySelectorAll('input, select, details, button')) {
    const k = key(el);
    if (!k) continue;
    if (el.tagName === 'DETAILS') kept.set(k, el.open);
    else if (el.tagName !== 'BUTTON') kept.set(k, el.value);
    if (el === document.activeElement) focus = k;
  }
  fill(box, ...nodes);
  for (const el of box.querySelectorAll('input, select, details, button')) {
    const k = key(el);
    if (!k) continue;
    if (kept.has(k)) {
      if (el.tagName === 'DETAILS') el.open = kept.get(k);
      else el.value = kept.get(k);
    }
    if (k === focus) el.focus();
  }
}

// ---------- sign-in and navigation ----------

function signOut(message) {
  sessionStorage.removeItem('orderly.token');
  sessionStorage.removeItem('orderly.me');
  S.token = null;
  S.me = null;
  if (S.page) S.page.ctrl.abort();
  location.hash = '#/signin';
  render(message);
}

function homeOf(me) {
  if (me.role === 'nurse') return `#/station/${encodeURIComponent(me.units[0] || '')}`;
  if (me.role === 'biomed') return '#/biomed';
  return '#/map';
}

function signInPage(main, message) {
  document.getElementById('top').hidden = true;
  const input = h('input', { id: 'token', type: 'password', autocomplete: 'off', required: true,
    'aria-describedby': 'token-help' });
  const err = h('p', { id: 'signin-error', class: 'error', role: 'alert' }, message || '');
  const form = h('form', { class: 'card signin', id: 'signin' },
    h('h1', {}, 'Sign in to Orderly'),
    h('label', { for: 'token' }, 'API token', input),
    h('p', { id: 'token-help', class: 'muted' },
      'The token your administrator gave you (orderly token create). It stays in this tab only.'),
    err,
    h('button', { class: 'primary', type: 'submit' }, 'Sign in'));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    err.textContent = '';
    const token = input.value.trim();
    const r = await fetch('/api/v1/me', { headers: { Authorization: `Bearer ${token}` } });
    if (!r.ok) {
      err.textContent = r.status === 401 ? 'That token is not valid (wrong, or revoked).'
        : `Sign-in failed: ${r.status}`;
      return;
    }
    S.token = token;
    S.me = await r.json();
    sessionStorage.setItem('orderly.token', token);
    sessionStorage.setItem('orderly.me', JSON.stringify(S.me));
    enableSound();
    location.hash = homeOf(S.me);
  });
  main.append(form);
  input.focus();
}

function navigation(current) {
  const nav = document.getElementById('nav');
  fill(nav);
  const links = [['#/map', 'Floor map']];
  const role = S.me.role;
  if (role === 'nurse') for (const u of S.me.units) links.push([`#/station/${u}`, `Station ${u}`]);
  if (role === 'admin') for (const u of S.fp.units) links.push([`#/station/${u.id}`, `Station ${u.id}`]);
  if (role === 'biomed' || role === 'admin') links.push(['#/biomed', 'Biomed']);
  for (const [href, text] of links) {
    nav.append(h('a', { href, 'aria-current': current === href ? 'page' : null }, text));
  }
  document.getElementById('who').textContent = `${S.me.name} (${S.me.role})`;
  document.getElementById('top').hidden = false;
}

async function render(message) {
  if (S.page) S.page.ctrl.abort();
  for (const t of (S.page && S.page.timers) || []) clearInterval(t);
  S.page = { ctrl: new AbortController(), timers: [] };
  document.getElementById('banner').hidden = true;
  document.title = 'Orderly';
  const main = document.getElementById('main');
  fill(main);
  const [path, query] = location.hash.replace(/^#/, '').split('?');
  const params = new URLSearchParams(query || '');
  if (!S.token || !S.me || path === '/signin') {
    signInPage(main, message);
    return;
  }
  try {
    if (!S.fp) {
      S.fp = await api('/api/v1/floorplan');
      for (const r of S.fp.rooms) S.rooms.set(r.id, r);
    }
    const parts = path.split('/').filter(Boolean);
    if (parts.length === 0) { location.hash = homeOf(S.me); return; }
    navigation(`#/${parts.map(decodeURIComponent).join('/')}`);
    if (parts[0] === 'map') await mapPage(main, params);
    else if (parts[0] === 'station') await stationPage(main, decodeURIComponent(parts[1] || ''));
    else if (parts[0] === 'biomed') await biomedPage(main, params);
    else main.append(h('p', { class: 'error' }, `No page ${path}.`));
  } catch (e) {
    if (e.status !== 401) main.append(h('p', { class: 'error', role: 'alert' }, `Could not load: ${e.message}`));
  }
  main.focus({ preventScroll: true });
}

// ---------- sound ----------

function enableSound() {
  if (!S.audio) {
    try { S.audio = new AudioContext(); } catch (_) { S.audio = null; }
  }
  if (S.audio && S.audio.state === 'suspended') S.audio.resume();
}

window.orderlyBeeps = 0;
function beep() {
  window.orderlyBeeps += 1;
  if (!S.audio || S.audio.state !== 'running') return;
  const t = S.audio.currentTime;
  for (const [i, f] of [[0, 880], [1, 660], [2, 880]]) {
    const o = S.audio.createOscillator();
    const g = S.audio.createGain();
    o.frequency.value = f;
    g.gain.setValueAtTime(0.25, t + i * 0.25);
    g.gain.setValueAtTime(0, t + i * 0.25 + 0.2);
    o.connect(g).connect(S.audio.destination);
    o.start(t + i * 0.25);
    o.stop(t + i * 0.25 + 0.22);
  }
}

// ---------- floor map ----------

const SHAPES = {
  staff: 'diamond', bed: 'square', wheelchair: 'triangle', stretcher: 'triangle',
};

function shapeOf(kind) {
  return SHAPES[kind] || 'circle';
}

function marker(shape, x, y, r, attrs) {
  if (shape === 'square') return s('rect', { x: x - r, y: y - r, width: 2 * r, height: 2 * r, ...attrs });
  if (shape === 'diamond') {
    return s('polygon', { points: `${x},${y - r * 1.2} ${x + r * 1.2},${y} ${x},${y + r * 1.2} ${x - r * 1.2},${y}`, ...attrs });
  }
  if (shape === 'triangle') {
    return s('polygon', { points: `${x},${y - r * 1.15} ${x + r * 1.1},${y + r * 0.9} ${x - r * 1.1},${y + r * 0.9}`, ...attrs });
  }
  return s('circle', { cx: x, cy: y, r, ...attrs });
}

function legend() {
  const item = (shape, cls, text) => h('span', {},
    (() => { const v = s('svg', { viewBox: '-1.5 -1.5 3 3', 'aria-hidden': 'true' }); v.append(marker(shape, 0, 0, 1, { class: `marker ${cls}` })); return v; })(),
    ` ${text}`);
  return h('div', { class: 'legend', 'aria-label': 'Legend' },
    item('circle', 'available', 'pump or device'), item('square', 'available', 'bed'),
    item('triangle', 'available', 'wheelchair or stretcher'), item('diamond', 'staff', 'staff badge'),
    item('circle', 'available', 'filled: available'), item('circle', 'in_use', 'hollow: in use'),
    item('circle', 'needs_cleaning', 'amber: needs cleaning'), item('circle', 'out_of_service', 'grey: out of service'),
    item('circle', 'available lost', 'faded: last seen'));
}

async function mapPage(main, params) {
  const signal = S.page.ctrl.signal;
  const st = {
    items: new Map(), // id -> { id, kind, status, room, lost, label }
    floor: params.get('floor'),
    from: params.get('from'),
    route: (params.get('route') || '').split(',').filter(Boolean),
    hits: new Set(),
    focus: null,
  };
  const myUnit = S.me.units && S.me.units[0] && S.fp.units.find((u) => u.id === S.me.units[0]);
  if (!st.floor) st.floor = myUnit ? myUnit.floor : S.fp.floors[0].id;
  if (!st.from) st.from = myUnit ? myUnit.station : null;

  const floors = h('div', { class: 'floors', role: 'group', 'aria-label': 'Floor' });
  const svgBox = h('div', { id: 'mapbox' });
  const roomCard = h('div', { class: 'card', id: 'roomcard' }, h('p', { class: 'muted' }, 'Select a room to see what is in it and to search from it.'));
  const results = h('ul', { class: 'results', id: 'search-results' });
  const q = h('input', { id: 'search', type: 'search', placeholder: 'PUMP-0001, wheelchair, a name…' });
  const kinds = h('select', { id: 'near-kind' });
  const fromSel = h('select', { id: 'near-from' });
  const found = h('div', { id: 'nearest', 'aria-live': 'polite' });
  const parBox = h('div', { id: 'par' });

  main.append(h('h1', {}, `Floor map — ${S.fp.name}`),
    h('div', { class: 'maplayout' },
      h('section', { 'aria-label': 'Map' }, floors, legend(), svgBox),
      h('div', { class: 'side' },
        h('section', { class: 'card', 'aria-labelledby': 'h-search' }, h('h2', { id: 'h-search' }, 'Find equipment or staff'),
          h('label', { for: 'search' }, 'Id, kind or name', q), results),
        h('section', { class: 'card', 'aria-labelledby': 'h-near' }, h('h2', { id: 'h-near' }, 'Nearest available'),
          h('div', { class: 'row' }, h('label', { for: 'near-kind' }, 'Kind', kinds), h('label', { for: 'near-from' }, 'From room', fromSel),
            h('button', { id: 'find-nearest', class: 'primary', type: 'button', onclick: (e) => findNearest(e.currentTarget) }, 'Find nearest')),
          found),
        roomCard,
        h('section', { class: 'card', 'aria-labelledby': 'h-par' }, h('h2', { id: 'h-par' }, 'PAR levels'), parBox))));

  for (const r of [...S.fp.rooms].sort((a, b) => a.id.localeCompare(b.id))) {
    if (r.rect) fromSel.append(h('option', { value: r.id, selected: r.id === st.from }, `${r.id} ${r.name}`));
  }
  fromSel.addEventListener('change', () => { st.from = fromSel.value; draw(); });

  function drawFloors() {
    fill(floors, ...S.fp.floors.map((f) => h('button', { type: 'button', 'aria-pressed': String(f.id === st.floor), 'data-floor': f.id,
      onclick: () => { st.floor = f.id; draw(); } }, f.name)));
  }

  let svg = null; let markersLayer = null; let routeLayer = null;
  function draw() {
    drawFloors();
    const rooms = S.fp.rooms.filter((r) => r.floor === st.floor && r.rect);
    let [x0, y0, x1, y1] = [Infinity, Infinity, -Infinity, -Infinity];
    for (const r of rooms) {
      const [x, y, w, hh] = r.rect;
      x0 = Math.min(x0, x); y0 = Math.min(y0, y); x1 = Math.max(x1, x + w); y1 = Math.max(y1, y + hh);
    }
    if (!rooms.length) { x0 = 0; y0 = 0; x1 = 10; y1 = 10; }
    const fl = S.fp.floors.find((f) => f.id === st.floor);
    svg = s('svg', { class: 'map', id: 'map', role: 'img', 'aria-label': `Map of ${fl ? fl.name : st.floor}`,
      viewBox: `${x0 - 1} ${y0 - 1} ${x1 - x0 + 2} ${y1 - y0 + 2}`, 'data-floor': st.floor });
    const roomsLayer = s('g', {});
    for (const r of rooms) {
      const [x, y, w, hh] = r.rect;
      const cls = `room ${r.kind}${r.id === st.from ? ' from' : ''}`;
      const rect = s('rect', { x, y, width: w, height: hh, class: cls, 'data-room': r.id, tabindex: '0', role: 'button',
        'aria-label': `${r.name} (${r.id})`,
        onclick: () => selectRoom(r.id), onkeydown: (e) => { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); selectRoom(r.id); } } },
      s('title', {}, `${r.name} (${r.id})`));
      roomsLayer.append(rect);
      if (w >= 2 && hh >= 1) roomsLayer.append(s('text', { x: x + 0.15, y: y + 0.8, class: 'rlabel' }, r.id.replace(/^F\d-/, '')));
    }
    markersLayer = s('g', { id: 'markers' });
    routeLayer = s('g', { id: 'route' });
    svg.append(roomsLayer, markersLayer, routeLayer);
    fill(svgBox, svg);
    drawMarkers();
    drawRoute();
  }

  function drawMarkers() {
    if (!markersLayer) return;
    const byRoom = new Map();
    for (const it of st.items.values()) {
      if (!it.room) continue;
      const r = S.rooms.get(it.room);
      if (!r || r.floor !== st.floor || !r.rect) continue;
      if (!byRoom.has(it.room)) byRoom.set(it.room, []);
      byRoom.get(it.room).push(it);
    }
    const out = [];
    for (const [room, items] of byRoom) {
      const [x, y, w, hh] = S.rooms.get(room).rect;
      items.sort((a, b) => (b.id === st.focus) - (a.id === st.focus) || st.hits.has(b.id) - st.hits.has(a.id) || a.id.localeCompare(b.id));
      // Cells as large as the room allows for what is in it (0.3 to 0.9 m): a crowded store
      // shows every item it can, and says how many more.
      const top = hh >= 2.2 ? 1.2 : 0.15;
      const aw = Math.max(0.3, w - 0.2);
      const ah = Math.max(0.3, hh - top - 0.1);
      const cell = Math.min(0.9, Math.max(0.3, Math.sqrt((aw * ah) / items.length)));
      const cols = Math.max(1, Math.floor(aw / cell));
      const rows = Math.max(1, Math.floor(ah / cell));
      const cap = cols * rows;
      items.forEach((it, i) => {
        if (i >= cap) return;
        if (i === cap - 1 && items.length > cap) {
          out.push(s('text', { x: x + 0.1 + (i % cols) * cell, y: y + top + Math.floor(i / cols) * cell + cell * 0.8, class: 'more' }, `+${items.length - cap + 1}`));
          return;
        }
        const cx = x + 0.1 + (i % cols) * cell + cell / 2;
        const cy = y + top + Math.floor(i / cols) * cell + cell / 2;
        const cls = `marker ${it.kind === 'staff' ? 'staff' : it.status}${it.lost ? ' lost' : ''}${st.hits.has(it.id) || st.focus === it.id ? ' hit' : ''}`;
        out.push(marker(shapeOf(it.kind), cx, cy, cell / 3, { class: cls, 'data-subject': it.id, 'data-room': it.room },
          s('title', {}, `${it.label}${it.lost ? ' (last seen here)' : ''}`)));
      });
    }
    fill(markersLayer, ...out);
  }

  function centre(id) {
    const [x, y, w, hh] = S.rooms.get(id).rect;
    return [x + w / 2, y + hh / 2];
  }

  function drawRoute() {
    if (!routeLayer) return;
    fill(routeLayer, );
    const on = st.route.filter((id) => { const r = S.rooms.get(id); return r && r.rect && r.floor === st.floor; });
    if (on.length === 0) return;
    const pts = on.map(centre);
    routeLayer.append(s('polyline', { class: 'route', points: pts.map((p) => p.join(',')).join(' '), 'data-route': on.join(',') }));
    const [ex, ey] = pts[pts.length - 1];
    routeLayer.append(s('circle', { class: 'routeend', cx: ex, cy: ey, r: 0.5 }));
    const [sx, sy] = pts[0];
    routeLayer.append(s('circle', { class: 'routeend', cx: sx, cy: sy, r: 0.3 }));
  }

  function routeText(route) {
    // Rooms grouped by floor, corridors left out: what a porter reads.
    const legs = [];
    for (const id of route) {
      const r = S.rooms.get(id);
      if (!r) continue;
      const last = legs[legs.length - 1];
      if (!last || last.floor !== r.floor) legs.push({ floor: r.floor, rooms: [] });
      if (!['corridor'].includes(r.kind) || id === route[0] || id === route[route.length - 1]) legs[legs.length - 1].rooms.push(r.name);
    }
    return legs.map((l) => `${l.floor}: ${l.rooms.join(' → ')}`).join(' ⇒ ');
  }

  function showRoute(route, floor) {
    st.route = route;
    if (floor && floor !== st.floor) { st.floor = floor; draw(); } else drawRoute();
  }

  async function selectRoom(id) {
    st.from = id;
    fromSel.value = id;
    for (const r of svg.querySelectorAll('.room.from')) r.classList.remove('from');
    const rr = svg.querySelector(`.room[data-room="${CSS.escape(id)}"]`);
    if (rr) rr.classList.add('from');
    const room = await api(`/api/v1/rooms/${encodeURIComponent(id)}`, { signal });
    const list = h('ul', {});
    for (const a of room.assets) list.append(h('li', {}, `${a.id} — ${words(a.kind)}, ${words(a.status)}`));
    for (const p of room.staff) list.append(h('li', {}, `${p.name} — ${words(p.role)} (${p.id})`));
    for (const p of room.patients) list.append(h('li', {}, `Patient ${p.name}, bed ${p.bed}`));
    fill(roomCard, h('h2', {}, `${room.name} (${room.id})`),
      h('p', { class: 'muted' }, `${room.unit ? `Unit ${room.unit}, ` : ''}${words(room.kind)}. Searching from here.`),
      list.children.length ? list : h('p', {}, 'Nothing tracked here now.'));
  }

  async function findNearest(button) {
    if (!st.from) { fill(found, h('p', { class: 'error' }, 'Choose the room to search from (click it on the map).')); return; }
    button.disabled = true;
    try {
      const list = await api(`/api/v1/locate?kind=${encodeURIComponent(kinds.value)}&near=${encodeURIComponent(st.from)}&limit=3`, { signal });
      if (!list.length) {
        fill(found, h('p', { class: 'error' }, `No ${words(kinds.value)} is available and heard now.`));
        showRoute([]);
        return;
      }
      const ol = h('ol', { class: 'results' });
      list.forEach((f, i) => {
        ol.append(h('li', { 'data-found': f.asset },
          h('strong', {}, f.asset), ` — ${f.room_name} (${f.room}), ${Math.round(f.metres)} m walk `,
          h('button', { type: 'button', onclick: () => { showRoute(f.route, S.rooms.get(st.from).floor); focusItem(f.asset, false); } }, i === 0 ? 'Route shown' : 'Show route'),
          h('div', { class: 'muted' }, routeText(f.route))));
      });
      fill(found, h('p', {}, `Nearest ${words(kinds.value)} from ${roomName(st.from)}:`), ol);
      showRoute(list[0].route, S.rooms.get(st.from).floor);
      st.focus = list[0].asset;
      drawMarkers();
    } catch (e) {
      if (e.status !== 401) fill(found, h('p', { class: 'error' }, e.message));
    } finally {
      button.disabled = false;
    }
  }

  function focusItem(id, switchFloor) {
    st.focus = id;
    const it = st.items.get(id);
    if (switchFloor && it && it.room && S.rooms.get(it.room) && S.rooms.get(it.room).floor !== st.floor) {
      st.floor = S.rooms.get(it.room).floor;
      draw();
    } else drawMarkers();
  }

  function search() {
    const term = q.value.trim().toLowerCase();
    st.hits = new Set();
    fill(results, );
    if (term.length >= 2) {
      const hits = [...st.items.values()].filter((it) => it.id.toLowerCase().includes(term) || words(it.kind).toLowerCase().includes(term)
        || (it.name && it.name.toLowerCase().includes(term)));
      for (const it of hits.slice(0, 25)) {
        st.hits.add(it.id);
        const r = it.room ? S.rooms.get(it.room) : null;
        results.append(h('li', { 'data-hit': it.id }, h('button', { type: 'button', onclick: () => focusItem(it.id, true) }, it.id),
          ` ${it.name || words(it.kind)}${it.kind !== 'staff' ? `, ${words(it.status)}` : ''} — ${r ? `${r.name}, ${r.floor}` : 'not located'}${it.lost ? ' (last seen)' : ''}`));
      }
      if (hits.length > 25) results.append(h('li', { class: 'muted' }, `…and ${hits.length - 25} more`));
      if (!hits.length) results.append(h('li', {}, 'Nothing matches.'));
    }
    drawMarkers();
  }
  q.addEventListener('input', throttle(search, 150));

  async function drawPar() {
    const levels = await api('/api/v1/par', { signal });
    if (!levels.length) { fill(parBox, h('p', { class: 'muted' }, 'No PAR levels set (rules/par.toml).')); return; }
    const rows = levels.map((p) => h('tr', { 'data-par': `${p.unit}/${p.kind}` },
      h('td', {}, p.unit), h('td', {}, words(p.kind)), h('td', {}, `${p.ready} / ${p.target}`),
      h('td', { class: `par-state ${p.state}` }, p.state === 'ok' ? 'OK' : p.state === 'critical' ? `Critical (under ${p.critical})` : 'Below target'),
      h('td', {}, p.state === 'ok' ? '' : p.pull_from ? `Pull from ${p.pull_from.room_name} (${p.pull_from.spare} spare, ${Math.round(p.pull_from.metres)} m)` : 'No spare nearby')));
    fill(parBox, h('table', {}, h('thead', {}, h('tr', {}, h('th', {}, 'Unit'), h('th', {}, 'Kind'), h('th', {}, 'Ready'), h('th', {}, 'State'), h('th', {}, 'Pull'))),
      h('tbody', {}, rows)));
  }

  async function load() {
    const [assets, staff] = await Promise.all([api('/api/v1/assets?limit=100000', { signal }), api('/api/v1/staff', { signal })]);
    st.items.clear();
    for (const a of assets) {
      st.items.set(a.id, { id: a.id, kind: a.kind, status: a.status, room: a.location && a.location.room,
        lost: !!(a.location && !a.location.present), label: `${a.id} ${words(a.kind)}, ${words(a.status)}` });
    }
    for (const p of staff) {
      st.items.set(p.id, { id: p.id, kind: 'staff', name: p.name, status: 'staff', room: p.location && p.location.room,
        lost: !!(p.location && !p.location.present), label: `${p.name} (${words(p.role)})` });
    }
    const ks = [...new Set(assets.map((a) => a.kind))].sort();
    const keep = kinds.value || (ks.includes('infusion_pump') ? 'infusion_pump' : ks[0]);
    fill(kinds, ...ks.map((k) => h('option', { value: k, selected: k === keep }, words(k))));
    if (q.value) search(); else drawMarkers();
    await drawPar();
  }

  draw();
  await load();
  // At most ten redraws a second, however many tags move (a timer, not an animation frame:
  // a station screen in a background tab must still be current when it is looked at).
  const redraw = (() => { let pending = false; return () => { if (pending) return; pending = true; setTimeout(() => { pending = false; drawMarkers(); }, 100); }; })();
  const parLater = throttle(() => drawPar().catch(() => {}), 2000);
  S.page.timers.push(setInterval(parLater, 30000));
  let loaded = true;
  stream('/api/v1/events?kind=location.changed,location.lost,location.found,asset.status_changed', (kind, e) => {
    if (kind === 'location.changed') {
      const it = st.items.get(e.subject);
      if (it) { it.room = e.to; it.lost = false; } else return;
    } else if (kind === 'location.lost') {
      const it = st.items.get(e.subject);
      if (it) { it.room = e.room; it.lost = true; } else return;
    } else if (kind === 'location.found') {
      const it = st.items.get(e.subject);
      if (it) it.lost = false; else return;
    } else if (kind === 'asset.status_changed') {
      const it = st.items.get(e.asset);
      if (it) { it.status = e.to; it.label = `${it.id} ${words(it.kind)}, ${words(e.to)}`; }
    }
    redraw();
    parLater();
  }, async () => { if (!loaded) await load(); loaded = false; }, signal);
}

// ---------- nursing-station board ----------

async function stationPage(main, unit) {
  const signal = S.page.ctrl.signal;
  const u = S.fp.units.find((x) => x.id === unit);
  if (!u) { main.append(h('p', { class: 'error' }, `No unit ${unit}.`)); return; }
  const alertsBox = h('div', { class: 'alerts', id: 'alerts', 'aria-live': 'polite' });
  const bedsBox = h('div', { id: 'beds' });
  const suggBox = h('div', { id: 'suggestions' });
  const sound = h('button', { type: 'button', id: 'sound', onclick: () => { enableSound(); sound.textContent = 'Sound on'; } },
    S.audio && S.audio.state === 'running' ? 'Sound on' : 'Turn sound on');
  const count = h('span', { id: 'count', class: 'muted' });
  main.append(h('div', { class: 'row' }, h('h1', {}, `${u.name} — nursing station`), count, sound),
    h('div', { class: 'board' },
      h('section', { 'aria-labelledby': 'h-alerts' }, h('h2', { id: 'h-alerts' }, 'Alerts'), alertsBox),
      h('div', {},
        h('section', { 'aria-labelledby': 'h-sugg' }, h('h2', { id: 'h-sugg' }, 'Bed settings to confirm at the bedside'), suggBox),
        h('section', { 'aria-labelledby': 'h-beds' }, h('h2', { id: 'h-beds' }, 'Beds'), bedsBox))));

  let alerts = [];
  // What an alert is about, from the unit's beds: its bed and patient by either id.
  let about = new Map();
  const banner = document.getElementById('banner');
  let nagging = null;

  function unseenHigh() {
    return alerts.filter((a) => a.priority === 'high' && a.state === 'active' && !a.silenced_until && !S.seenHigh.has(a.id));
  }

  function cue() {
    const fresh = unseenHigh();
    if (!fresh.length) {
      banner.hidden = true;
      banner.classList.remove('flash');
      document.body.dataset.alarm = 'off';
      document.title = `${unit} — Orderly`;
      clearInterval(nagging); nagging = null;
      return;
    }
    const a = fresh[0];
    fill(banner, h('span', {}, `▲ NEW HIGH PRIORITY: ${a.title || a.rule} — ${a.room ? roomName(a.room) : a.subject}`),
      h('button', { type: 'button', id: 'seen', onclick: () => { for (const x of fresh) S.seenHigh.add(x.id);
        sessionStorage.setItem('orderly.seenHigh', JSON.stringify([...S.seenHigh].slice(-500))); cue();
        const card = alertsBox.querySelector(`[data-alert="${CSS.escape(a.id)}"]`); if (card) card.querySelector('button').focus(); } }, 'Seen — go to it'));
    banner.hidden = false;
    banner.classList.add('flash');
    document.body.dataset.alarm = 'on';
    document.title = `▲ ${fresh.length} NEW — ${unit} — Orderly`;
    if (!nagging) { beep(); nagging = setInterval(beep, 10000); S.page.timers.push(nagging); }
  }

  function card(a) {
    const reason = h('input', { type: 'text', 'aria-label': 'Reason for resolving', placeholder: 'Reason (required)', class: 'reason' });
    const silenceFor = h('select', { 'aria-label': 'Silence for', class: 'silence-for' },
      h('option', { value: '120' }, '2 min'), h('option', { value: '300' }, '5 min'), h('option', { value: '900' }, '15 min'));
    const id = encodeURIComponent(a.id);
    const state = (a.state === 'acknowledged' ? `Acknowledged by ${a.acknowledged_by || '?'}` : 'Active — not acknowledged')
      + (a.silenced_until ? ` · Silenced until ${when(a.silenced_until)}` : '');
    return h('article', { class: `alert ${a.priority}`, 'data-alert': a.id, 'data-state': a.state, 'aria-label': `${a.priority} priority: ${a.title || a.rule}` },
      h('div', { class: 'meta' }, h('span', { class: `prio ${a.priority}` }, a.priority.toUpperCase()),
        h('span', { class: 'state' }, state),
        a.escalation > 0 ? h('span', { class: 'tag bad' }, `Escalated, step ${a.escalation}`) : null,
        h('span', { 'data-ago': a.raised_at }, `raised ${ago(a.raised_at)} ago`)),
      h('div', { class: 'title' }, `${a.title || a.rule}${a.room ? ` — ${roomName(a.room)}` : ''}`),
      about.has(a.subject) ? h('div', { class: 'about' }, about.get(a.subject)) : null,
      h('div', { class: 'msg' }, a.message),
      h('div', { class: 'actions' },
        a.state === 'active' ? h('button', { type: 'button', class: 'primary ack', onclick: (e) => act(e.currentTarget, 'Acknowledge', () => api(`/api/v1/alerts/${id}/acknowledge`, { body: {} }).then(refreshAlerts)) }, 'Acknowledge') : null,
        reason,
        h('button', { type: 'button', class: 'resolve', onclick: (e) => {
          if (!reason.value.trim()) { reason.focus(); toast('Say why it is resolved.'); return; }
          act(e.currentTarget, 'Resolve', () => api(`/api/v1/alerts/${id}/resolve`, { body: { reason: reason.value.trim() } }).then(refreshAlerts));
        } }, 'Resolve'),
        silenceFor,
        h('button', { type: 'button', class: 'silence', onclick: (e) => act(e.currentTarget, 'Silence', () => api(`/api/v1/alerts/${id}/silence`, { body: { seconds: Number(silenceFor.value) } }).then(refreshAlerts)) }, 'Silence')));
  }

  function drawAlerts() {
    redraw(alertsBox, alerts.length ? alerts.map(card) : [h('p', { class: 'empty card' }, '✔ No open alerts for this unit.')], 'data-alert');
    count.textContent = `${alerts.length} open (${alerts.filter((a) => a.state === 'active').length} not acknowledged)`;
    cue();
  }

  async function refreshAlerts() {
    alerts = await api(`/api/v1/units/${encodeURIComponent(unit)}/alerts`, { signal });
    drawAlerts();
  }

  function bedRow(b) {
    const bed = b.asset && b.asset.bed;
    const p = b.patient;
    const chips = [];
    if (bed) {
      chips.push(h('span', { class: 'tag' }, bed.height === 'low' ? 'Bed low' : `Bed ${words(bed.height)}`));
      chips.push(h('span', { class: `tag ${bed.brakes ? 'good' : 'bad'}` }, bed.brakes ? 'Brakes on' : 'Brakes OFF'));
      const up = Object.values(bed.rails || {}).filter((x) => x === true || x === 'up').length;
      chips.push(h('span', { class: 'tag' }, `Rails ${up} up`));
      chips.push(h('span', { class: 'tag' }, `Exit alarm ${words(bed.exit_alarm)}`));
      chips.push(h('span', { class: 'tag' }, `Head ${Math.round(bed.hob_deg)}°`));
      if (bed.moving) chips.push(h('span', { class: 'tag' }, 'Moving'));
    } else chips.push(h('span', { class: 'muted' }, 'no bed state'));
    const t = p && p.turning;
    const turning = t && t.state !== 'off' ? h('span', { class: `tag ${['due', 'overdue', 'severely_overdue'].includes(t.state) ? 'bad' : t.state === 'ok' ? 'good' : ''}` },
      `Turn ${words(t.state)}${t.every_min ? ` (${t.minutes} of ${t.every_min} min)` : ''}`) : h('span', { class: 'muted' }, '—');
    return h('tr', { 'data-bed': b.bed },
      h('td', {}, b.room_name || 'not located', h('div', { class: 'muted' }, b.bed)),
      h('td', {}, p ? [p.name, h('div', { class: 'muted' }, `Morse ${p.morse}, Braden ${p.braden}${p.ventilated ? ', ventilated' : ''}`)] : h('span', { class: 'muted' }, 'empty')),
      h('td', {}, chips),
      h('td', {}, turning),
      h('td', {}, b.alerts.length ? b.alerts.map((a) => h('div', {}, h('span', { class: `prio ${a.priority}` }, a.priority.toUpperCase()), ` ${a.title || a.rule}`))
        : bed ? h('span', { class: 'tag good' }, 'None') : h('span', { class: 'muted' }, '—')));
  }

  async function refreshBeds() {
    const [beds, sugg] = await Promise.all([api(`/api/v1/units/${encodeURIComponent(unit)}/beds`, { signal }),
      api(`/api/v1/suggestions?unit=${encodeURIComponent(unit)}`, { signal })]);
    about = new Map();
    for (const b of beds) {
      const text = `Bed ${b.bed}${b.patient ? ` · ${b.patient.name} (${b.patient.id}), Morse ${b.patient.morse}` : ''}`;
      about.set(b.bed, text);
      if (b.patient) about.set(b.patient.id, text);
    }
    drawAlerts();
    fill(bedsBox, h('table', { class: 'beds' },
      h('thead', {}, h('tr', {}, h('th', {}, 'Room'), h('th', {}, 'Patient'), h('th', {}, 'Bed'), h('th', {}, 'Turning'), h('th', {}, 'Open alerts'))),
      h('tbody', {}, beds.map(bedRow))));
    redraw(suggBox, (sugg.length ? sugg.map((x) => {
      const reason = h('input', { type: 'text', 'aria-label': 'Reason for dismissing', placeholder: 'Reason to dismiss', class: 'reason' });
      const id = encodeURIComponent(x.id);
      return h('article', { class: 'card suggestion', 'data-suggestion': x.id },
        h('div', { class: 'title' }, `${x.room ? roomName(x.room) : ''} — bed ${x.bed}: ${Object.entries(x.set).map(([k, v]) => `${words(k)} → ${v}`).join(', ')}`),
        h('div', { class: 'muted' }, x.message),
        h('div', { class: 'row' },
          h('button', { type: 'button', class: 'primary confirm', onclick: (e) => act(e.currentTarget, 'Confirm', () => api(`/api/v1/suggestions/${id}/confirm`, { body: {} }).then(refreshBeds)) }, 'Confirm (I am at the bedside)'),
          reason,
          h('button', { type: 'button', class: 'dismiss', onclick: (e) => {
            if (!reason.value.trim()) { reason.focus(); toast('Say why not.'); return; }
            act(e.currentTarget, 'Dismiss', () => api(`/api/v1/suggestions/${id}/dismiss`, { body: { reason: reason.value.trim() } }).then(refreshBeds));
          } }, 'Dismiss')));
    }) : [h('p', { class: 'muted' }, 'None pending.')]), 'data-suggestion');
  }

  const alertsLater = throttle(() => refreshAlerts().catch(() => {}), 150);
  const bedsLater = throttle(() => refreshBeds().catch(() => {}), 1000);
  await Promise.all([refreshAlerts(), refreshBeds()]);
  S.page.timers.push(setInterval(() => {
    for (const e of alertsBox.querySelectorAll('[data-ago]')) e.textContent = `raised ${ago(e.dataset.ago)} ago`;
  }, 5000));
  S.page.timers.push(setInterval(bedsLater, 30000));
  let first = true;
  const kinds = ['alert.raised', 'alert.updated', 'alert.acknowledged', 'alert.escalated', 'alert.reminder', 'alert.silenced',
    'alert.unsilenced', 'alert.resolved', 'bed.exit', 'patient.turned', 'bed.command', 'bed.command_acked', 'bed.suggested',
    'bed.suggestion_ended', 'bundle.changed'];
  stream(`/api/v1/units/${encodeURIComponent(unit)}/events?kind=${kinds.join(',')}`, (kind) => {
    if (kind.startsWith('alert.')) { alertsLater(); bedsLater(); }
    if (kind.startsWith('bed.') || kind === 'patient.turned' || kind === 'bundle.changed') bedsLater();
  }, async () => { if (!first) { alertsLater(); bedsLater(); } first = false; }, signal);
}

// ---------- biomed board ----------

async function biomedPage(main, params) {
  const signal = S.page.ctrl.signal;
  const cols = h('div', { class: 'columns', id: 'work-orders' });
  const pullBox = h('div', { id: 'pull' });
  const recallBox = h('div', { id: 'recalls' });
  const compBox = h('div', { id: 'compliance' });
  const predBox = h('div', { id: 'predictions' });
  const shop = S.fp.rooms.find((r) => /biomed/i.test(r.id));
  const fromSel = h('select', { id: 'pull-from' });
  for (const r of [...S.fp.rooms].sort((a, b) => a.id.localeCompare(b.id))) fromSel.append(h('option', { value: r.id, selected: shop && r.id === shop.id }, `${r.id} ${r.name}`));
  if (params.get('from')) fromSel.value = params.get('from');
  const within = h('input', { id: 'pull-days', type: 'number', min: '1', max: '366', value: params.get('within_days') || '14' });
  main.append(h('h1', {}, 'Biomedical engineering'),
    h('div', { class: 'biomed' },
      h('section', { 'aria-labelledby': 'h-wo' }, h('h2', { id: 'h-wo' }, 'Work orders'), cols),
      h('div', {},
        h('section', { 'aria-labelledby': 'h-pull' }, h('h2', { id: 'h-pull' }, 'Pull list and round'),
          h('div', { class: 'row' }, h('label', { for: 'pull-from' }, 'Start from', fromSel), h('label', { for: 'pull-days' }, 'Due within (days)', within),
            h('button', { type: 'button', class: 'primary', id: 'pull-go', onclick: () => refreshPull().catch(() => {}) }, 'Make the list')), pullBox),
        h('section', { 'aria-labelledby': 'h-pred' }, h('h2', { id: 'h-pred' }, 'Predictions'), predBox),
        h('section', { 'aria-labelledby': 'h-rec' }, h('h2', { id: 'h-rec' }, 'Recalls'), recallBox),
        h('section', { 'aria-labelledby': 'h-comp' }, h('h2', { id: 'h-comp' }, 'Scheduled maintenance completion (last 90 days)'), compBox))));

  const PRED = { battery: 'Prediction: battery', 'occlusion-rate': 'Prediction: occlusion rate', 'fault-rate': 'Prediction: fault rate' };

  function woCard(w) {
    const id = encodeURIComponent(w.id);
    const at = h('input', { type: 'datetime-local', 'aria-label': 'Scheduled for', class: 'at' });
    const who = h('input', { type: 'text', 'aria-label': 'Assignee', placeholder: 'Assignee', class: 'who' });
    const why = h('input', { type: 'text', 'aria-label': 'Reason to cancel', placeholder: 'Reason to cancel', class: 'why' });
    const post = (body, what) => (e) => act(e.currentTarget, what, () => api(`/api/v1/maintenance/work-orders/${id}`, { body }).then(refreshOrders));
    const main = [];
    const more = [];
    if (w.status === 'open' || w.status === 'scheduled') {
      main.push(h('button', { type: 'button', class: 'start', onclick: post({ action: 'start' }, 'Start') }, 'Start work'));
      more.push(h('div', { class: 'row' }, at, who, h('button', { type: 'button', class: 'schedule', onclick: (e) => {
        if (!at.value) { at.focus(); toast('Choose when.'); return; }
        post({ action: 'schedule', at: new Date(at.value).toISOString(), assignee: who.value.trim() || null }, 'Schedule')(e);
      } }, 'Schedule')));
    }
    if (w.status === 'in_progress') main.push(h('button', { type: 'button', class: 'primary complete', onclick: post({ action: 'complete', notes: null }, 'Complete') }, 'Complete'));
    more.push(h('div', { class: 'row' }, why, h('button', { type: 'button', class: 'cancel', onclick: (e) => {
      if (!why.value.trim()) { why.focus(); toast('Say why it is not needed.'); return; }
      post({ action: 'cancel', reason: why.value.trim() }, 'Cancel')(e);
    } }, 'Cancel order')));
    return h('article', { class: `card wo risk-${w.risk}`, 'data-wo': w.id, 'data-status': w.status },
      h('div', {}, h('strong', {}, `${w.asset}`), ` ${words(w.asset_kind)}${w.model ? ` (${w.model})` : ''}`),
      h('div', {}, h('span', { class: `tag${PRED[w.reason] ? ' predicted' : ''}` }, PRED[w.reason] || words(w.reason)), h('span', { class: 'tag' }, `${w.risk} risk`)),
      h('p', { class: 'detail' }, w.detail),
      h('p', { class: 'muted small' }, `Opened ${when(w.opened_at)} by ${w.opened_by}${w.scheduled_for ? `; scheduled ${when(w.scheduled_for)}${w.assignee ? ` for ${w.assignee}` : ''}` : ''}`),
      w.checks && w.checks.length ? h('details', {}, h('summary', {}, `Checks (${w.checks.length})`), h('ul', { class: 'small' }, w.checks.map((c) => h('li', {}, c)))) : null,
      h('div', { class: 'row' }, main, h('details', { class: 'more' }, h('summary', {}, w.status === 'in_progress' ? 'Cancel…' : 'Schedule or cancel…'), more)));
  }

  async function refreshOrders() {
    const orders = await api('/api/v1/maintenance/work-orders?status=open&limit=500', { signal });
    const by = { open: [], scheduled: [], in_progress: [] };
    for (const w of orders) if (by[w.status]) by[w.status].push(w);
    const col = (key, title) => h('div', { 'data-column': key }, h('h3', {}, `${title} (${by[key].length})`),
      by[key].length ? by[key].map(woCard) : h('p', { class: 'muted' }, 'None.'));
    redraw(cols, [col('open', 'Open'), col('scheduled', 'Scheduled'), col('in_progress', 'In progress')], 'data-wo');
    const predicted = orders.filter((w) => PRED[w.reason]);
    fill(predBox, ...(predicted.length ? [h('ul', {}, predicted.map((w) => h('li', { 'data-prediction': w.id },
      h('strong', {}, w.asset), ` (${words(w.asset_kind)}${w.model ? `, ${w.model}` : ''}) — ${PRED[w.reason].replace('Prediction: ', '')}: `, w.detail)))]
      : [h('p', { class: 'muted' }, 'No failure predicted within the horizon (battery run time, occlusion and fault rates are watched).')]));
  }

  async function refreshPull() {
    const p = await api(`/api/v1/maintenance/pull-list?from=${encodeURIComponent(fromSel.value)}&within_days=${encodeURIComponent(within.value || 14)}`, { signal });
    const rows = p.items.map((it) => h('tr', { 'data-pull': it.asset },
      h('td', {}, it.asset, h('div', { class: 'muted' }, words(it.kind))),
      h('td', {}, it.due.map((d) => h('div', {}, `${words(d.reason)}${d.due_at ? ` (due ${when(d.due_at)})` : ''}`))),
      h('td', {}, it.room_name ? `${it.room_name}, ${it.floor}` : 'not located'),
      h('td', {}, it.pullable ? h('span', { class: 'tag good' }, 'Pull now') : h('span', { class: 'tag bad' }, 'Not now')),
      h('td', {}, it.note || '')));
    const mapLink = `#/map?route=${encodeURIComponent(p.route.join(','))}&from=${encodeURIComponent(p.from)}&floor=${encodeURIComponent((S.rooms.get(p.from) || {}).floor || '')}`;
    fill(pullBox, 
      p.items.length ? h('table', {}, h('thead', {}, h('tr', {}, h('th', {}, 'Item'), h('th', {}, 'Due'), h('th', {}, 'Where'), h('th', {}, 'Pullable'), h('th', {}, 'Note'))), h('tbody', {}, rows))
        : h('p', {}, 'Nothing due in the window.'),
      p.round.length ? h('div', { class: 'card', id: 'round' }, h('h3', {}, `Round: ${p.round.length} stop${p.round.length === 1 ? '' : 's'}, ${Math.round(p.metres)} m`),
        h('ol', {}, p.round.map((st) => h('li', {}, `${st.room_name} (${st.floor}), ${Math.round(st.metres)} m — collect ${st.assets.join(', ')}`))),
        h('a', { href: mapLink, id: 'round-map' }, 'Show the round on the map')) : null);
  }

  async function refreshRecalls() {
    const list = await api('/api/v1/maintenance/recalls', { signal });
    fill(recallBox, ...(list.length ? list.map((r) => h('article', { class: 'card', 'data-recall': r.recall.id },
      h('strong', {}, `${r.recall.title} (${r.recall.model})`), ` — ${r.recall.status}`,
      h('p', {}, r.recall.detail),
      h('p', {}, h('span', { class: 'progress', role: 'img', 'aria-label': `${r.done} of ${r.items.length} done` },
        h('span', {})), ` ${r.done} of ${r.items.length} done, ${r.remaining} to go`),
      h('ul', {}, r.items.filter((i) => !i.done).slice(0, 20).map((i) => h('li', {}, `${i.asset} — ${words(i.status)}, ${i.room_name || 'not located'}`))))) : [h('p', { class: 'muted' }, 'No open recalls.')]));
    // Widths through the DOM, not a style attribute: the pages' policy allows no inline styles.
    list.forEach((r, i) => {
      const bar = recallBox.children[i] && recallBox.children[i].querySelector('.progress span');
      if (bar) bar.style.width = `${r.items.length ? Math.round((100 * r.done) / r.items.length) : 0}%`;
    });
  }

  async function refreshCompliance() {
    const rep = await api('/api/v1/maintenance/report', { signal });
    fill(compBox, !rep.completion.some((c) => c.due > 0) ? h('p', {}, 'No scheduled maintenance fell due in the last 90 days.') : h('table', {}, h('thead', {}, h('tr', {}, ...['Risk', 'Due', 'On time', 'Late', 'Overdue', 'Pending', 'Cancelled', 'Completion'].map((x) => h('th', {}, x)))),
      h('tbody', {}, rep.completion.map((c) => h('tr', { 'data-risk': c.risk }, h('td', {}, c.risk), h('td', {}, c.due), h('td', {}, c.on_time), h('td', {}, c.late),
        h('td', {}, c.overdue), h('td', {}, c.pending), h('td', {}, c.cancelled),
        h('td', {}, c.completion === null || c.completion === undefined ? '—' : `${(100 * c.completion).toFixed(1)} %${c.risk === 'high' && c.completion < 1 ? ' ✖ (high risk needs 100 %)' : ''}`))))),
    h('p', { class: 'muted' }, `Downtime in the window: ${rep.downtime_hours.toFixed(1)} h. Overdue work orders: ${rep.overdue.length}.`));
  }

  await Promise.all([refreshOrders(), refreshRecalls(), refreshCompliance(), refreshPull()]);
  const later = throttle(() => { refreshOrders().catch(() => {}); refreshRecalls().catch(() => {}); }, 500);
  let first = true;
  stream('/api/v1/events?kind=workorder.opened,workorder.updated,recall.opened,recall.updated', later,
    async () => { if (!first) later(); first = false; }, signal);
}

// ---------- start ----------

document.getElementById('signout').addEventListener('click', () => signOut('Signed out.'));
window.addEventListener('hashchange', () => render());
render();
