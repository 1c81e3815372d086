// The floor map: equipment and badges in their rooms, live; search; the route to the nearest
// available item; PAR levels.

import { S, api, fill, h, redraw, refresher, roomName, s, stream, throttle, when, words } from './common.js';

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
    item('circle', 'out_of_service running', 'red ring: out of service but still running (a recall)'),
    item('circle', 'available lost', 'faded: last seen'),
    h('span', {}, (() => { const v = s('svg', { viewBox: '-1.5 -1.5 3 3', 'aria-hidden': 'true' }); v.append(s('circle', { cx: 0, cy: 0, r: 1.2, class: 'halo' })); return v; })(), ' dashed black ring: what you searched for'));
}

export async function mapPage(main, params) {
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
      h('section', { 'aria-label': 'Map', class: 'mapsection' },
        h('div', { class: 'row maptools' }, floors,
          h('div', { class: 'zoom', role: 'group', 'aria-label': 'Zoom' },
            h('button', { type: 'button', id: 'zoom-in', 'aria-label': 'Zoom in', 'aria-keyshortcuts': '+', onclick: () => zoom(1 / 1.5) }, '+'),
            h('button', { type: 'button', id: 'zoom-out', 'aria-label': 'Zoom out', 'aria-keyshortcuts': '-', onclick: () => zoom(1.5) }, '−'),
            h('button', { type: 'button', id: 'zoom-fit', 'aria-keyshortcuts': '0', onclick: () => { vb = null; applyView(); } }, 'Whole floor'))),
        svgBox, legend()),
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
    if (full.floor !== st.floor) vb = null;
    full = { floor: st.floor, x: x0 - 1, y: y0 - 1, w: x1 - x0 + 2, h: y1 - y0 + 2 };
    svg = s('svg', { class: 'map', id: 'map', role: 'img', tabindex: '0',
      'aria-label': `Map of ${fl ? fl.name : st.floor}: drag or use the arrow keys to move, + and − to zoom`,
      viewBox: `${full.x} ${full.y} ${full.w} ${full.h}`, 'data-floor': st.floor });
    panAndZoom(svg);
    const roomsLayer = s('g', {});
    for (const r of rooms) {
      const [x, y, w, hh] = r.rect;
      const cls = `room ${r.kind}${r.id === st.from ? ' from' : ''}`;
      const rect = s('rect', { x, y, width: w, height: hh, class: cls, 'data-room': r.id, tabindex: '0', role: 'button',
        'aria-label': `${r.name} (${r.id})`,
        onclick: () => selectRoom(r.id), onkeydown: (e) => { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); selectRoom(r.id); } } },
      s('title', {}, `${r.name} (${r.id})`));
      roomsLayer.append(rect);
      // The room's name where it fits (its code where it does not), sized to the room.
      const code = r.id.replace(/^F\d-/, '');
      const name = r.kind === 'corridor' ? '' : r.name;
      const size = Math.min(0.75, (w - 0.3) / Math.max(1, name.length * 0.55));
      const [label, fs] = size >= 0.32 ? [name, size] : [code, Math.min(0.7, (w - 0.3) / Math.max(1, code.length * 0.55))];
      if (label && hh >= 1 && fs >= 0.25) {
        const t = s('text', { x: x + 0.15, y: y + 0.2 + fs, class: 'rlabel' }, label);
        t.style.fontSize = `${fs}px`;
        roomsLayer.append(t);
      }
    }
    markersLayer = s('g', { id: 'markers' });
    routeLayer = s('g', { id: 'route' });
    svg.append(roomsLayer, markersLayer, routeLayer);
    fill(svgBox, svg);
    applyView();
    drawMarkers();
    drawRoute();
  }

  // ---- zoom and pan: mouse wheel and drag, two-finger pinch, the keyboard, the buttons ----
  let full = { floor: null, x: 0, y: 0, w: 10, h: 10 };
  let vb = null; // the part of the floor shown; null: all of it

  function applyView() {
    if (!svg) return;
    const v = vb || full;
    svg.setAttribute('viewBox', `${v.x} ${v.y} ${v.w} ${v.h}`);
    svg.dataset.zoom = (full.w / v.w).toFixed(2);
  }

  function zoom(factor, cx, cy) {
    const v = vb || { ...full };
    const w = Math.min(full.w * 1.2, Math.max(full.w / 12, v.w * factor));
    const k = w / v.w;
    const px = cx === undefined ? v.x + v.w / 2 : cx;
    const py = cy === undefined ? v.y + v.h / 2 : cy;
    vb = { x: px - (px - v.x) * k, y: py - (py - v.y) * k, w, h: v.h * k };
    applyView();
  }

  function pan(dx, dy) {
    const v = vb || { ...full };
    vb = { ...v, x: v.x + dx, y: v.y + dy };
    applyView();
  }

  // Screen point to map coordinates.
  function toMap(e) {
    const m = svg.getScreenCTM();
    if (!m) return [0, 0];
    const p = new DOMPoint(e.clientX, e.clientY).matrixTransform(m.inverse());
    return [p.x, p.y];
  }

  function panAndZoom(el) {
    const pointers = new Map();
    let dragged = false;
    let pinch = null;
    el.addEventListener('wheel', (e) => {
      e.preventDefault();
      const [x, y] = toMap(e);
      zoom(e.deltaY > 0 ? 1.2 : 1 / 1.2, x, y);
    }, { passive: false });
    el.addEventListener('pointerdown', (e) => {
      pointers.set(e.pointerId, { x: e.clientX, y: e.clientY });
      dragged = false;
      if (pointers.size === 2) {
        const [a, b] = [...pointers.values()];
        pinch = Math.hypot(a.x - b.x, a.y - b.y);
      }
    });
    el.addEventListener('pointermove', (e) => {
      const last = pointers.get(e.pointerId);
      if (!last) return;
      if (pointers.size === 2 && pinch) {
        pointers.set(e.pointerId, { x: e.clientX, y: e.clientY });
        const [a, b] = [...pointers.values()];
        const d = Math.hypot(a.x - b.x, a.y - b.y);
        if (d > 0 && Math.abs(d - pinch) > 2) {
          const [mx, my] = toMap({ clientX: (a.x + b.x) / 2, clientY: (a.y + b.y) / 2 });
          zoom(pinch / d, mx, my);
          pinch = d;
          dragged = true;
        }
        return;
      }
      const dxp = e.clientX - last.x;
      const dyp = e.clientY - last.y;
      if (!dragged && Math.hypot(dxp, dyp) < 6) return;
      dragged = true;
      const scale = (vb || full).w / el.getBoundingClientRect().width;
      pan(-dxp * scale, -dyp * scale);
      pointers.set(e.pointerId, { x: e.clientX, y: e.clientY });
    });
    const up = (e) => { pointers.delete(e.pointerId); if (pointers.size < 2) pinch = null; };
    el.addEventListener('pointerup', up);
    el.addEventListener('pointercancel', up);
    // A drag is not a click on the room under it.
    el.addEventListener('click', (e) => { if (dragged) { e.stopPropagation(); e.preventDefault(); dragged = false; } }, true);
    el.addEventListener('keydown', (e) => {
      const v = vb || full;
      const step = v.w / 8;
      const keys = { '+': () => zoom(1 / 1.5), '=': () => zoom(1 / 1.5), '-': () => zoom(1.5), '0': () => { vb = null; applyView(); },
        ArrowLeft: () => pan(-step, 0), ArrowRight: () => pan(step, 0), ArrowUp: () => pan(0, -step), ArrowDown: () => pan(0, step) };
      if (keys[e.key] && e.target === el) { e.preventDefault(); keys[e.key](); }
    });
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
        const hit = st.hits.has(it.id) || st.focus === it.id;
        const cls = `marker ${it.kind === 'staff' ? 'staff' : it.status}${it.running ? ' running' : ''}${it.lost ? ' lost' : ''}${hit ? ' hit' : ''}`;
        if (hit) out.push(s('circle', { cx, cy, r: cell / 2, class: 'halo' }));
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

  // The middle of the wall two rooms share (where a door between them is), or null.
  function door(a, b) {
    const [ax, ay, aw, ah] = S.rooms.get(a).rect;
    const [bx, by, bw, bh] = S.rooms.get(b).rect;
    const near = (p, q) => Math.abs(p - q) < 0.05;
    const overlap = (p0, p1, q0, q1) => { const lo = Math.max(p0, q0); const hi = Math.min(p1, q1); return hi > lo ? (lo + hi) / 2 : null; };
    for (const [x, ok] of [[ax + aw, near(ax + aw, bx)], [ax, near(ax, bx + bw)]]) {
      const m = ok ? overlap(ay, ay + ah, by, by + bh) : null;
      if (m !== null) return [x, m];
    }
    for (const [y, ok] of [[ay + ah, near(ay + ah, by)], [ay, near(ay, by + bh)]]) {
      const m = ok ? overlap(ax, ax + aw, bx, bx + bw) : null;
      if (m !== null) return [m, y];
    }
    return null;
  }

  function drawRoute() {
    if (!routeLayer) return;
    fill(routeLayer, );
    const on = st.route.filter((id) => { const r = S.rooms.get(id); return r && r.rect && r.floor === st.floor; });
    if (on.length === 0) return;
    // Through the doors: from the first room's centre, across each shared wall at the middle of
    // the part they share, to the last room's centre. Rooms are rectangles, so each leg stays
    // inside the room it crosses (never through a wall).
    const pts = [centre(on[0])];
    for (let i = 1; i < on.length; i++) {
      const d = door(on[i - 1], on[i]);
      if (d) pts.push(d);
    }
    if (on.length > 1) pts.push(centre(on[on.length - 1]));
    const ends = [centre(on[0]), centre(on[on.length - 1])];
    routeLayer.append(s('polyline', { class: 'route', points: pts.map((p) => p.join(',')).join(' '), 'data-route': on.join(',') }));
    const [ex, ey] = ends[1];
    routeLayer.append(s('circle', { class: 'routeend', cx: ex, cy: ey, r: 0.5 }));
    const [sx, sy] = ends[0];
    routeLayer.append(s('circle', { class: 'routeend', cx: sx, cy: sy, r: 0.3 }));
    // A route that goes on to another floor says so where it leaves this one.
    const lastHere = st.route.lastIndexOf(on[on.length - 1]);
    const next = S.rooms.get(st.route[lastHere + 1] || '');
    if (next && next.floor !== st.floor) {
      const via = S.rooms.get(on[on.length - 1]);
      routeLayer.append(s('text', { class: 'route-next', x: ex + 0.8, y: ey - 0.8, 'data-next-floor': next.floor },
        `continues on ${floorName(next.floor)}${via ? ` via ${via.name}` : ''}`));
    }
  }

  function floorName(id) {
    const f = (S.fp.floors || []).find((x) => x.id === id);
    return f ? f.name : id;
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
    return legs.map((l) => `${floorName(l.floor)}: ${l.rooms.join(' → ')}`).join(' ⇒ ');
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
    // A pump's infusion: what it gives and where that stands against the drug library.
    const infusionText = (i) => {
      if (!i) return '';
      const what = i.library ? `${i.drug || 'a drug'}${i.dose !== undefined ? ` ${+i.dose.toFixed(2)} ${i.dose_unit || ''}` : ''}` : `${+i.rate_ml_h.toFixed(1)} mL/h without the drug library`;
      const stand = { within: 'within the library\'s limits', above_soft: `past a soft limit (${i.crossed})`, below_soft: `under a soft limit (${i.crossed})`,
        above_hard: `✖ past the library's ${i.crossed}`, below_hard: `✖ under the library's ${i.crossed}` }[i.limit];
      const left = i.minutes_left !== undefined && i.minutes_left <= 60 ? `, ends in about ${Math.round(i.minutes_left)} min` : '';
      return `; infusing ${what}${stand ? `, ${stand}` : ''}${i.unchecked ? ` (not checked: ${i.unchecked})` : ''}${left}`;
    };
    for (const a of room.assets) list.append(h('li', { 'data-asset': a.id }, `${a.id} — ${words(a.kind)}, ${words(a.status)}${infusionText(a.infusion)}`));
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
      const list = await api(`/api/v1/locate?kind=${encodeURIComponent(kinds.value)}&near=${encodeURIComponent(st.from)}&limit=12`, { signal });
      if (!list.length) {
        fill(found, h('p', { class: 'error' }, `No ${words(kinds.value)} is available and heard now.`));
        showRoute([]);
        return;
      }
      // The API ranks settled items (stores, free rooms) before those in corridors and at an
      // occupied bedside; items in one room are one answer ("3 in Central equipment store").
      const groups = [];
      for (const f of list) {
        const g = groups.find((x) => x.room === f.room);
        if (g) g.items.push(f); else groups.push({ room: f.room, items: [f] });
      }
      const ol = h('ol', { class: 'results' });
      groups.slice(0, 3).forEach((g, i) => {
        const f = g.items[0];
        const n = g.items.length;
        ol.append(h('li', { 'data-found': f.asset, 'data-place': f.place, 'data-count': n },
          h('strong', {}, n > 1 ? `${n} here: ${g.items.map((x) => x.asset).join(', ')}` : f.asset),
          ` — ${f.room_name} (${f.room}), ${Math.round(f.metres)} m `,
          h('button', { type: 'button', onclick: () => { showRoute(f.route, S.rooms.get(st.from).floor); focusItem(f.asset, false); } }, i === 0 ? 'Route shown' : 'Show route'),
          h('div', { class: `place ${f.place}` }, f.place_says),
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

  const drawPar = refresher(async () => {
    const levels = await api('/api/v1/par', { signal });
    if (!levels.length) { fill(parBox, h('p', { class: 'muted' }, 'No PAR levels set (rules/par.toml).')); return; }
    const rows = levels.map((p) => h('tr', { 'data-par': `${p.unit}/${p.kind}` },
      h('td', {}, p.unit), h('td', {}, words(p.kind)), h('td', {}, `${p.ready} / ${p.target}`),
      h('td', { class: `par-state ${p.state}` }, p.state === 'ok' ? 'OK' : p.state === 'critical' ? `Critical (under ${p.critical})` : 'Below target'),
      h('td', {}, p.state === 'ok' ? '' : p.pull_from ? `Pull from ${p.pull_from.room_name} (${p.pull_from.spare} spare, ${Math.round(p.pull_from.metres)} m)` : 'No spare nearby')));
    fill(parBox, h('table', {}, h('thead', {}, h('tr', {}, h('th', {}, 'Unit'), h('th', {}, 'Kind'), h('th', {}, 'Ready'), h('th', {}, 'State'), h('th', {}, 'Pull'))),
      h('tbody', {}, rows)));
  }, signal);

  async function load() {
    const [assets, staff] = await Promise.all([api('/api/v1/assets?limit=100000', { signal }), api('/api/v1/staff', { signal })]);
    st.items.clear();
    for (const a of assets) {
      // Out of service yet still infusing (a recalled pump a patient is on): both, not one.
      const running = a.status === 'out_of_service' && !!a.pump && a.pump.state === 'infusing';
      st.items.set(a.id, { id: a.id, kind: a.kind, status: a.status, running, room: a.location && a.location.room,
        lost: !!(a.location && !a.location.present),
        label: `${a.id} ${words(a.kind)}, ${words(a.status)}${running ? ' but still infusing' : ''}` });
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
  const reload = refresher(load, signal);
  await reload();
  // At most ten redraws a second, however many tags move (a timer, not an animation frame:
  // a station screen in a background tab must still be current when it is looked at).
  const redraw = (() => { let pending = false; return () => { if (pending) return; pending = true; setTimeout(() => { pending = false; drawMarkers(); }, 100); }; })();
  const parLater = throttle(() => drawPar().catch(() => {}), 2000);
  S.page.timers.push(setInterval(parLater, 30000));
  // Reload at every (re)connection, the first included: a tag that moved between the first
  // load and the stream's start would otherwise stay in its old room until it moved again.
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
      if (it) {
        it.status = e.to;
        if (e.to !== 'out_of_service') it.running = false;
        it.label = `${it.id} ${words(it.kind)}, ${words(e.to)}${it.running ? ' but still infusing' : ''}`;
      }
    }
    redraw();
    parLater();
  }, async () => { await reload().catch(() => {}); }, signal);
}
