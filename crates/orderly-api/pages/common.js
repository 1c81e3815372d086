// What every page shares: the signed-in state, DOM helpers, the API with the user's token,
// the live event stream (read with fetch so the token travels in the header, resumed with
// Last-Event-ID), redrawing that keeps what a user typed, signing out, and the audible cue.

export const S = {
  token: sessionStorage.getItem('orderly.token'),
  me: JSON.parse(sessionStorage.getItem('orderly.me') || 'null'),
  fp: null,          // GET /api/v1/floorplan
  rooms: new Map(),  // room id -> room
  page: null,        // the page being shown: { ctrl: AbortController, timers: [] }
  audio: null,       // AudioContext, once the user allowed sound
  seenHigh: new Set(JSON.parse(sessionStorage.getItem('orderly.seenHigh') || '[]')),
};

// ---------- small helpers ----------

export function h(tag, attrs, ...children) {
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

export const SVG = 'http://www.w3.org/2000/svg';
export function s(tag, attrs, ...children) {
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
export function fill(el, ...nodes) {
  el.replaceChildren(...nodes.flat().filter((n) => n !== null && n !== undefined && n !== false));
}

export function toast(text) {
  const t = h('div', {}, text);
  document.getElementById('toast').append(t);
  setTimeout(() => t.remove(), 6000);
}

export function ago(ts) {
  const sec = Math.max(0, Math.round((Date.now() - Date.parse(ts)) / 1000));
  if (sec < 60) return `${sec} s`;
  const min = Math.floor(sec / 60);
  if (min < 60) return `${min} min`;
  const hrs = Math.floor(min / 60);
  return `${hrs} h ${min % 60} min`;
}

export function when(ts) {
  if (!ts) return '';
  const d = new Date(ts);
  return d.toLocaleString([], { dateStyle: 'medium', timeStyle: 'short' });
}

export function words(x) {
  return String(x || '').replaceAll('_', ' ');
}

export function roomName(id) {
  const r = S.rooms.get(id);
  return r ? r.name : id;
}

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

export async function api(path, opts = {}) {
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
export async function act(button, what, fn) {
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

export function setLive(on) {
  const l = document.getElementById('live');
  l.className = on ? 'live on' : 'live off';
  l.textContent = on ? 'Live' : 'Reconnecting…';
}

// Reads a Server-Sent Events stream with the token; reconnects with Last-Event-ID so nothing
// committed meanwhile is missed. `onOpen` runs at each (re)connection, before any event.
export async function stream(path, onEvent, onOpen, signal) {
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

// Wraps a page's reload so that two never overlap: an older answer arriving after a newer one
// would put back what the newer one removed (an alert raised while the first load was on its way
// stayed off the board). A call made while one runs runs once more after it, and its promise
// settles after that run (an action's own change is on screen when it says done). A reload
// that fails is tried again in a few seconds: a board must not stay stale after one refused read.
export function refresher(fn, signal) {
  let running = null;
  let again = false;
  let retry = null;
  const run = () => {
    if (running) { again = true; return running; }
    running = (async () => {
      try {
        do { again = false; await fn(); } while (again && !(signal && signal.aborted));
      } catch (e) {
        if (!(signal && signal.aborted) && e.status !== 401) {
          clearTimeout(retry);
          retry = setTimeout(() => run().catch(() => {}), 3000);
          if (S.page) S.page.timers.push(retry);
        }
        throw e;
      } finally {
        running = null;
      }
    })();
    return running;
  };
  return run;
}

// A function that runs `fn` soon after it is called, and at most once per `ms` however often
// it is called (a steady stream of events must not starve the refresh).
export function throttle(fn, ms) {
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
export function redraw(box, nodes, keyAttr) {
  // A control's key: its card, its kind and class, and which of its like it is in the card (a
  // card with several inputs of one class keeps each one's own value).
  const keys = (root) => {
    const seen = new Map();
    const out = [];
    for (const el of root.querySelectorAll('input, select, details, button')) {
      const owner = el.closest(`[${keyAttr}]`);
      if (!owner) { out.push([el, null]); continue; }
      const base = `${owner.getAttribute(keyAttr)}|${el.tagName}|${el.className}|${el.dataset.check || ''}|${el.tagName === 'BUTTON' || el.tagName === 'DETAILS' ? el.textContent.length : ''}`;
      const n = seen.get(base) || 0;
      seen.set(base, n + 1);
      out.push([el, `${base}#${n}`]);
    }
    return out;
  };
  const kept = new Map();
  let focus = null;
  for (const [el, k] of keys(box)) {
    if (!k) continue;
    if (el.tagName === 'DETAILS') kept.set(k, el.open);
    else if (el.tagName !== 'BUTTON') kept.set(k, el.value);
    if (el === document.activeElement) focus = k;
  }
  fill(box, ...nodes);
  for (const [el, k] of keys(box)) {
    if (!k) continue;
    if (kept.has(k)) {
      if (el.tagName === 'DETAILS') el.open = kept.get(k);
      else el.value = kept.get(k);
    }
    if (k === focus) el.focus();
  }
}

export function signOut(message) {
  sessionStorage.removeItem('orderly.token');
  sessionStorage.removeItem('orderly.me');
  S.token = null;
  S.me = null;
  if (S.page) S.page.ctrl.abort();
  location.hash = '#/signin';
  // The shell (app.js) draws the sign-in page with the reason.
  window.dispatchEvent(new CustomEvent('orderly:signedout', { detail: message }));
}

// ---------- sound ----------

export function enableSound() {
  if (!S.audio) {
    try { S.audio = new AudioContext(); } catch (_) { S.audio = null; }
  }
  if (S.audio && S.audio.state === 'suspended') S.audio.resume();
}

window.orderlyBeeps = 0;
export function beep() {
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

