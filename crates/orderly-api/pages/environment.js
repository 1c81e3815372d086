// The environment of care: every sensor as it stands now (fridges, freezers, isolation rooms,
// operating rooms) and the daily log of the last seven days that replaces the paper
// temperature log (minimum, maximum, door open, every excursion), with its CSV.

import { S, ago, api, fill, h, redraw, refresher, stream, throttle, toast, when } from './common.js';

const UNITS = { temperature: '°C', humidity: '%', pressure: 'Pa' };
const SAY = {
  none: 'no range', within: 'in range', below_soft: 'below range', above_soft: 'above range',
  below_hard: 'below the hard limit', above_hard: 'above the hard limit',
};

function where(x) {
  return x.appliance ? `${x.appliance} — ${x.room_name || x.room}` : (x.room_name || x.room);
}

function reading(v, q) {
  const value = v[{ temperature: 'temperature_c', humidity: 'humidity_pct', pressure: 'pressure_pa' }[q]];
  if (value === null || value === undefined) return null;
  const s = v[q];
  const bad = s !== 'within' && s !== 'none';
  return h('span', { class: `tag ${bad ? 'bad' : 'good'}`, 'data-q': q },
    `${q[0].toUpperCase()}${q.slice(1)} ${value.toFixed(1)} ${UNITS[q]} (${SAY[s] || s})`);
}

function sensorCard(v) {
  const values = ['temperature', 'humidity', 'pressure'].map((q) => reading(v, q)).filter(Boolean);
  const notes = [];
  for (const x of v.excursions) {
    const side = x.standing.startsWith('above') ? 'above' : 'below';
    notes.push(h('p', { class: 'error' }, `${x.quantity} ${side} ${x.limit} ${UNITS[x.quantity]} since ${when(x.started_at)} (${ago(x.started_at)}), peak ${x.peak.toFixed(1)} ${UNITS[x.quantity]}`));
  }
  if (v.door_open) notes.push(h('p', { class: 'error' }, `Door open for ${ago(v.door_open_since)}`));
  if (!v.last_reading) notes.push(h('p', { class: 'muted' }, `No reading since Orderly started (${v.silent_minutes} min)`));
  else if (v.silent_minutes >= 5) notes.push(h('p', { class: 'error' }, `Silent for ${v.silent_minutes} min`));
  return h('article', { class: `card sensor ${v.excursions.length || v.door_open ? 'alarm' : ''}`, 'data-sensor': v.id },
    h('div', { class: 'title' }, h('strong', {}, where(v)), ` · ${v.profile_title}${v.unit ? ` · ${v.unit}` : ''}`),
    h('div', { class: 'row' }, values.length ? values : h('span', { class: 'muted' }, 'No value yet')),
    h('p', { class: 'muted' }, [`Must be ${v.range}.`,
      v.last_reading ? `Last reading ${ago(v.last_reading)} ago.` : '',
      v.battery_pct !== null && v.battery_pct !== undefined ? `Battery ${Math.round(v.battery_pct)} %.` : ''].filter(Boolean).join(' ')),
    notes);
}

function minMax(s, unit) {
  return s ? `${s.min.toFixed(1)} / ${s.max.toFixed(1)} ${unit}` : '—';
}

function describe(x) {
  const side = x.standing.startsWith('above') ? 'above' : 'below';
  const end = x.ended_at ? Date.parse(x.ended_at) : Date.now();
  const min = Math.round((end - Date.parse(x.started_at)) / 60000);
  return `${x.quantity} ${side} ${x.limit} ${UNITS[x.quantity]} from ${when(x.started_at)} for ${min} min${x.ended_at ? '' : ' (still out)'}, peak ${x.peak.toFixed(1)} ${UNITS[x.quantity]}${x.standing.endsWith('hard') ? ' — past the hard limit' : ''}`;
}

export async function environmentPage(main) {
  const signal = S.page.ctrl.signal;
  const nowBox = h('div', { id: 'sensors', class: 'cards' });
  const logBox = h('div', { id: 'env-log' });
  const csv = h('button', { type: 'button', id: 'env-csv' }, 'Download the log (CSV)');
  csv.addEventListener('click', async () => {
    try {
      const text = await api('/api/v1/reports/environment?format=csv', { signal });
      const a = h('a', { href: URL.createObjectURL(new Blob([text], { type: 'text/csv' })), download: 'environment.csv' });
      document.body.append(a);
      a.click();
      a.remove();
    } catch (e) {
      if (e.status !== 401) toast(`Download: ${e.message}`);
    }
  });
  main.append(h('h1', {}, 'Environment of care'),
    h('section', { 'aria-labelledby': 'h-now' }, h('h2', { id: 'h-now' }, 'Now'), nowBox),
    h('section', { 'aria-labelledby': 'h-log' }, h('h2', { id: 'h-log' }, 'Daily log, last 7 days (UTC days)'), csv, logBox));

  const refresh = refresher(async () => {
    const [sensors, log] = await Promise.all([
      api('/api/v1/sensors', { signal }),
      api('/api/v1/reports/environment', { signal }),
    ]);
    redraw(nowBox, sensors.length ? sensors.map(sensorCard)
      : [h('p', { class: 'muted' }, 'No environment sensor is in the registry (add [[sensor]] to the seed).')], 'data-sensor');
    const days = log.days.slice().reverse();
    fill(logBox, days.length ? h('table', { class: 'env-log' },
      h('thead', {}, h('tr', {}, ['Day', 'Where', 'Temperature min / max', 'Humidity min / max', 'Pressure min / max', 'Door open', 'Hours logged', 'Excursions'].map((x) => h('th', {}, x)))),
      h('tbody', {}, days.map((d) => h('tr', { 'data-sensor': d.sensor, 'data-date': d.date, class: d.excursions.length ? 'bad' : '' },
        h('td', {}, d.date),
        h('td', {}, where({ appliance: d.appliance, room: d.room, room_name: (S.rooms.get(d.room) || {}).name })),
        h('td', {}, minMax(d.temperature_c, '°C')),
        h('td', {}, minMax(d.humidity_pct, '%')),
        h('td', {}, minMax(d.pressure_pa, 'Pa')),
        h('td', {}, `${Math.round(d.door_open_minutes)} min`),
        h('td', {}, String(d.hours)),
        h('td', {}, d.excursions.length ? h('ul', {}, d.excursions.map((x) => h('li', {}, describe(x)))) : 'None')))))
      : h('p', { class: 'muted' }, 'Nothing logged in the last 7 days yet.'));
  }, signal);

  const later = throttle(() => refresh().catch(() => {}), 1000);
  await refresh();
  S.page.timers.push(setInterval(later, 30000));
  stream('/api/v1/events?kind=env.excursion,env.summary', () => later(), async () => later(), signal);
}
