// A patient's vital-signs chart: the last 24 hours of charted sets with NEWS2, laid out as the
// RCP NEWS2 chart is (a row per parameter, a column per set, each value on its sub-score's
// colour: 3 red, 2 orange, 1 yellow), the aggregate's trend, and when observations are due.
// Colour is never alone: every cell also shows its sub-score.

import { S, ago, api, fill, h, s, stream, throttle, when } from './common.js';

const SAY = {
  routine: 'routine (observations at least 12-hourly)',
  low: 'low (observations at least 4-6 hourly)',
  single_parameter_3: 'a 3 in one parameter (urgent ward review, at least hourly)',
  medium: 'urgent response (at least hourly)',
  high: 'emergency response (continuous monitoring)',
};
const ACVPU = { alert: 'A', new_confusion: 'C (new confusion)', voice: 'V', pain: 'P', unresponsive: 'U' };

function time(ts) {
  return new Date(ts).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}

// The columns worth a nurse's eye: every spot check; a sensor's sets every 30 minutes and
// whenever the score moves.
function columns(sets) {
  const out = [];
  let last = null;
  for (const c of sets) {
    const keep = !last || c.mode === 'spot' || c.news.aggregate !== last.news.aggregate
      || c.news.response !== last.news.response || Date.parse(c.taken_at) - Date.parse(last.taken_at) >= 30 * 60000;
    if (keep) { out.push(c); last = c; }
  }
  return out;
}

function cell(text, sub) {
  if (text === null || text === undefined) return h('td', { class: 'none' }, '—');
  return h('td', { class: `s${sub ?? 'x'}`, title: sub === null || sub === undefined ? 'not scored' : `sub-score ${sub}` },
    String(text), sub !== null && sub !== undefined ? h('sup', {}, String(sub)) : null);
}

function trend(sets, from, to) {
  const W = 960, H = 150, top = 8, bottom = 22, max = 15;
  const x = (t) => 40 + (W - 50) * (Date.parse(t) - Date.parse(from)) / (Date.parse(to) - Date.parse(from));
  const y = (v) => top + (H - top - bottom) * (1 - Math.min(v, max) / max);
  const band = (lo, hi, cls, label) => [
    s('rect', { x: 40, y: y(hi), width: W - 50, height: y(lo) - y(hi), class: cls }),
    s('text', { x: 36, y: y((lo + hi) / 2) + 4, 'text-anchor': 'end', class: 'axis' }, label)];
  const pts = sets.map((c) => [x(c.taken_at), y(c.news.aggregate)]);
  const hours = [];
  for (let t = Math.ceil(Date.parse(from) / 3600000) * 3600000; t < Date.parse(to); t += 4 * 3600000) {
    hours.push(s('text', { x: x(new Date(t).toISOString()), y: H - 6, 'text-anchor': 'middle', class: 'axis' }, time(t)));
  }
  return s('svg', { viewBox: `0 0 ${W} ${H}`, class: 'trend', role: 'img',
    'aria-label': `NEWS2 over the last 24 hours: ${sets.length ? sets.map((c) => c.news.aggregate).join(', ') : 'no sets'}` },
  ...band(0, 4.5, 'b-low', '0-4'), ...band(4.5, 6.5, 'b-medium', '5-6'), ...band(6.5, max, 'b-high', '7+'),
  pts.length > 1 ? s('polyline', { points: pts.map((p) => p.join(',')).join(' '), class: 'line' }) : null,
  ...sets.filter((c) => c.mode === 'spot').map((c) => s('circle', { cx: x(c.taken_at), cy: y(c.news.aggregate), r: 5, class: 'spot' })),
  ...hours);
}

export async function chartPage(main, patient) {
  const signal = S.page.ctrl.signal;
  const head = h('div', {});
  const body = h('div', {});
  main.append(head, body);
  let unit = null;

  async function load() {
    const c = await api(`/api/v1/patients/${encodeURIComponent(patient)}/vitals?hours=24`, { signal });
    unit = c.unit;
    document.title = `${c.name} — vital signs — Orderly`;
    const n = c.news2;
    const due = n && n.due_at ? (Date.parse(n.due_at) < Date.now()
      ? h('span', { class: 'tag bad' }, `Observations overdue since ${time(n.due_at)} (${ago(n.due_at)})`)
      : h('span', { class: 'tag' }, `Next observations due by ${time(n.due_at)}`)) : null;
    fill(head,
      h('div', { class: 'row' }, h('h1', {}, `Vital signs — ${c.name} (${c.patient})`),
        c.unit ? h('a', { href: `#/station/${encodeURIComponent(c.unit)}` }, `Back to station ${c.unit}`) : null),
      h('p', { class: 'muted' }, `${c.bed ? `Bed ${c.bed}` : 'Off the unit (outside Orderly\'s beds)'}${c.unit ? `, ${c.unit}` : ''} · SpO2 scale ${c.scale}${c.scale === 2 ? ' (hypercapnic respiratory failure: target 88-92 %)' : ''}`),
      h('div', { class: 'card news2-now', id: 'news2-now' },
        n ? [h('strong', {}, `NEWS2 ${n.aggregate}${n.complete ? '' : ' (partial set)'}`), ` — ${SAY[n.response] || n.response}`,
          n.rise >= 2 ? h('span', { class: 'tag bad' }, `up ${n.rise} within 4 h`) : null, ' ', due,
          h('div', { class: 'muted' }, `Scored on ${when(n.scored_at)}: ${n.detail}`)]
          : 'No vital signs charted yet for this patient.'));
    const cols = columns(c.sets);
    const rows = [
      ['Respirations /min', (x) => cell(x.obs.respiration_rate, x.news.sub.respiration_rate)],
      [`SpO2 % (scale ${c.scale})`, (x) => cell(x.obs.spo2, x.news.sub.spo2)],
      ['Air or oxygen', (x) => cell(x.obs.on_oxygen === undefined || x.obs.on_oxygen === null ? null
        : x.obs.on_oxygen ? `O2${x.o2_flow_lpm ? ` ${x.o2_flow_lpm} l/min` : ''}` : 'Air', x.news.sub.air_or_oxygen)],
      ['Blood pressure mmHg', (x) => cell(x.obs.systolic === null || x.obs.systolic === undefined ? null
        : `${Math.round(x.obs.systolic)}${x.diastolic ? `/${Math.round(x.diastolic)}` : ''}`, x.news.sub.systolic)],
      ['Pulse /min', (x) => cell(x.obs.pulse === null || x.obs.pulse === undefined ? null : Math.round(x.obs.pulse), x.news.sub.pulse)],
      ['Consciousness', (x) => cell(x.obs.consciousness ? ACVPU[x.obs.consciousness] : null, x.news.sub.consciousness)],
      ['Temperature °C', (x) => cell(x.obs.temperature_c === null || x.obs.temperature_c === undefined ? null : x.obs.temperature_c.toFixed(1), x.news.sub.temperature)],
    ];
    const table = h('table', { class: 'news2-chart', id: 'chart' },
      h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Time'),
        ...cols.map((x) => h('th', { scope: 'col', 'data-at': x.taken_at }, time(x.taken_at), h('div', { class: 'muted' }, x.mode === 'spot' ? 'spot check' : 'sensor'))))),
      h('tbody', {},
        ...rows.map(([label, f]) => h('tr', {}, h('th', { scope: 'row' }, label), ...cols.map(f))),
        h('tr', { class: 'total' }, h('th', { scope: 'row' }, 'NEWS2 total'),
          ...cols.map((x) => h('td', { class: `r-${x.news.response}`, title: SAY[x.news.response] }, `${x.news.aggregate}${x.news.complete ? '' : '*'}`))),
        h('tr', {}, h('th', { scope: 'row' }, 'Measured by'), ...cols.map((x) => h('td', { class: 'muted small' }, x.source)))));
    const scroller = h('div', { class: 'chart-scroll' }, table);
    fill(body,
      h('section', { 'aria-labelledby': 'h-trend' }, h('h2', { id: 'h-trend' }, 'NEWS2, last 24 hours'), trend(c.sets, c.from, c.to),
        h('p', { class: 'muted small' }, '● a nurse\'s spot check; the line joins every set charted.')),
      h('section', { 'aria-labelledby': 'h-chart' }, h('h2', { id: 'h-chart' }, 'Observations'),
        cols.length ? scroller : h('p', { class: 'card empty' }, 'No observations in the last 24 hours.'),
        h('p', { class: 'legend muted small' }, 'Sub-score in small figures: ',
          h('span', { class: 's3' }, '3'), ' ', h('span', { class: 's2' }, '2'), ' ', h('span', { class: 's1' }, '1'), ' ', h('span', { class: 's0' }, '0'),
          '. A sensor\'s sets are shown every 30 minutes and at each change of score; * a partial set.')));
    scroller.scrollLeft = scroller.scrollWidth;
  }

  await load();
  const later = throttle(() => load().catch(() => {}), 1000);
  if (unit) {
    stream(`/api/v1/units/${encodeURIComponent(unit)}/events?kind=patient.observed,patient.transferred,patient.updated`,
      () => later(), async () => later(), signal);
  }
}
