// Beds between patients: the environmental-services worklist (dirty beds, most needed first,
// with the taps that move them on), the bed board per unit, and the turnaround of the last
// seven days. Facilities and admins clean and block; nurses mark a clean bed ready.

import { S, act, ago, api, fill, h, redraw, refresher, stream, throttle, toast } from './common.js';

const STATES = ['occupied', 'dirty', 'cleaning', 'clean', 'ready', 'blocked'];
const SAY = {
  occupied: 'Occupied', dirty: 'Waiting for cleaning', cleaning: 'Being cleaned', clean: 'Cleaned, being made ready',
  ready: 'Ready for a patient', blocked: 'Blocked',
};

export async function bedsPage(main) {
  const signal = S.page.ctrl.signal;
  const workBox = h('div', { id: 'worklist' });
  const boardBox = h('div', { id: 'board' });
  const tatBox = h('div', { id: 'turnaround' });
  main.append(h('h1', {}, 'Beds'),
    h('section', { 'aria-labelledby': 'h-work' }, h('h2', { id: 'h-work' }, 'To clean (most needed first)'), workBox),
    h('section', { 'aria-labelledby': 'h-board' }, h('h2', { id: 'h-board' }, 'Bed board'), boardBox),
    h('section', { 'aria-labelledby': 'h-tat' }, h('h2', { id: 'h-tat' }, 'Turnaround, last 7 days'), tatBox));
  const role = S.me.role;
  const cleans = role === 'facilities' || role === 'admin';

  const post = (bed, body, what) => (e) => act(e.currentTarget, what,
    () => api(`/api/v1/beds/${encodeURIComponent(bed)}/turnover`, { body }).then(() => refresh()));

  function actions(b) {
    const out = [];
    if (cleans && b.state === 'dirty') out.push(h('button', { type: 'button', class: 'primary start', onclick: post(b.bed, { action: 'start_cleaning' }, 'Start cleaning') }, 'Start cleaning'));
    if (cleans && (b.state === 'dirty' || b.state === 'cleaning')) out.push(h('button', { type: 'button', class: 'cleaned', onclick: post(b.bed, { action: 'cleaned' }, 'Cleaned') }, 'Cleaned'));
    if (b.state === 'clean') out.push(h('button', { type: 'button', class: 'primary ready', onclick: post(b.bed, { action: 'ready' }, 'Ready') }, 'Ready'));
    if (cleans && b.state !== 'occupied' && b.state !== 'blocked') {
      const why = h('input', { type: 'text', class: 'why', 'aria-label': `Why block ${b.bed}`, placeholder: 'Why block it', maxlength: '2000' });
      out.push(h('details', { class: 'more' }, h('summary', {}, 'Block…'), h('div', { class: 'row' }, why,
        h('button', { type: 'button', class: 'block', onclick: (e) => {
          if (!why.value.trim()) { why.focus(); toast('Say why the bed is blocked.'); return; }
          post(b.bed, { action: 'block', reason: why.value.trim() }, 'Block')(e);
        } }, 'Block'))));
    }
    if (cleans && b.state === 'blocked') {
      const why = h('input', { type: 'text', class: 'why', 'aria-label': `Why unblock ${b.bed}`, placeholder: 'What was done', maxlength: '2000' });
      out.push(h('div', { class: 'row' }, why, h('button', { type: 'button', class: 'unblock', onclick: (e) => {
        if (!why.value.trim()) { why.focus(); toast('Say what was done.'); return; }
        post(b.bed, { action: 'unblock', reason: why.value.trim() }, 'Unblock')(e);
      } }, 'Unblock')));
    }
    return out;
  }

  function place(b) {
    return `${b.room ? (S.rooms.get(b.room) || {}).name || b.room : 'not located'} · ${b.unit || 'no unit'}`;
  }

  const refresh = refresher(async () => {
    const [work, board, tat] = await Promise.all([
      api('/api/v1/beds/worklist', { signal }),
      api('/api/v1/beds/availability', { signal }),
      api('/api/v1/reports/turnaround', { signal }),
    ]);
    redraw(workBox, work.length ? work.map((b) => h('article', { class: `card bed-work ${b.state}`, 'data-bed': b.bed },
      h('div', { class: 'title' }, h('strong', {}, b.bed), ` — ${place(b)}`),
      h('div', {}, h('span', { class: `tag ${b.state === 'dirty' ? 'bad' : ''}` }, SAY[b.state]),
        ` for ${ago(b.since)}${b.vacated_at ? `; empty for ${ago(b.vacated_at)}` : ''}`),
      h('div', { class: 'row' }, actions(b)))) : [h('p', { class: 'muted' }, 'No bed waits for cleaning.')], 'data-bed');
    fill(boardBox, board.length ? board.map((u) => h('div', { class: 'unit-board', 'data-unit': u.unit },
      h('h3', {}, u.unit === '(no unit)' ? 'Beds of no unit (spares)' : u.unit),
      h('p', { class: 'counts' }, STATES.map((st) => h('span', { class: `tag ${st}` }, `${SAY[st]}: ${u.counts[st] || 0}`))),
      h('table', { class: 'beds' },
        h('thead', {}, h('tr', {}, h('th', {}, 'Bed'), h('th', {}, 'Where'), h('th', {}, 'State'), h('th', {}, ''))),
        h('tbody', {}, u.beds.map((b) => h('tr', { 'data-bed': b.bed, 'data-state': b.state },
          h('td', {}, b.bed),
          h('td', {}, place(b)),
          h('td', {}, b.state === 'occupied' && b.patient ? `Occupied (${b.patient})`
            : b.state === 'blocked' ? `Blocked: ${b.reason || 'no reason given'}` : `${SAY[b.state]}${b.state === 'ready' ? '' : ` for ${ago(b.since)}`}`),
          h('td', {}, b.state === 'occupied' ? '' : actions(b)))))))) : h('p', { class: 'muted' }, 'No beds.'));
    const m = (x) => (x === null || x === undefined ? 'none yet' : `${Math.round(x)} min`);
    fill(tatBox, tat.length ? h('table', { class: 'turnaround' },
      h('thead', {}, h('tr', {}, ['Unit', 'Beds turned', 'Empty to ready (median)', '(90th percentile)', 'Dirty to clean (median)', 'Waiting now'].map((x) => h('th', {}, x)))),
      h('tbody', {}, tat.map((r) => h('tr', { 'data-unit': r.unit },
        h('td', {}, r.unit), h('td', {}, String(r.turned)), h('td', {}, m(r.vacated_to_ready_median_min)),
        h('td', {}, m(r.vacated_to_ready_p90_min)), h('td', {}, m(r.dirty_to_clean_median_min)), h('td', {}, String(r.waiting))))))
      : h('p', { class: 'muted' }, 'No bed has been turned over in the last 7 days.'));
  }, signal);

  const later = throttle(() => refresh().catch(() => {}), 500);
  await refresh();
  S.page.timers.push(setInterval(later, 30000));
  const kinds = ['bed.turnover', 'patient.admitted', 'patient.transferred', 'patient.discharged', 'patient.admit_cancelled',
    'patient.transfer_cancelled', 'patient.discharge_cancelled', 'patient.merged'];
  stream(`/api/v1/events?kind=${kinds.join(',')}`, () => later(), async () => later(), signal);
}
