// Orderly's pages: sign-in, the floor map, the nursing-station board, a patient's vital-signs
// chart, the biomed board, the beds between patients and the environment of care.
// ES modules, no build step, no framework. Everything comes from the public API with the
// token the user signed in with (kept in this tab's sessionStorage only). This module is the
// shell: sign-in, navigation and which page a URL shows.

import { S, api, enableSound, fill, h, signOut } from './common.js';
import { mapPage } from './map.js';
import { stationPage } from './station.js';
import { biomedPage } from './biomed.js';
import { bedsPage } from './beds.js';
import { chartPage } from './chart.js';
import { environmentPage } from './environment.js';

// ---------- sign-in and navigation ----------


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
  if (role !== 'biomed') links.push(['#/beds', 'Beds']);
  links.push(['#/environment', 'Environment']);
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
    else if (parts[0] === 'beds') await bedsPage(main);
    else if (parts[0] === 'environment') await environmentPage(main);
    else if (parts[0] === 'chart') await chartPage(main, decodeURIComponent(parts[1] || ''));
    else main.append(h('p', { class: 'error' }, `No page ${path}.`));
  } catch (e) {
    if (e.status !== 401) main.append(h('p', { class: 'error', role: 'alert' }, `Could not load: ${e.message}`));
  }
  main.focus({ preventScroll: true });
}

// ---------- start ----------

document.getElementById('signout').addEventListener('click', () => signOut('Signed out.'));
window.addEventListener('hashchange', () => render());
window.addEventListener('orderly:signedout', (e) => render(e.detail));
render();
