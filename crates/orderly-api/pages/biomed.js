// The biomed board: work orders, predictions, the pull list and its round, recalls,
// scheduled-maintenance completion.

import { S, act, api, fill, h, redraw, refresher, s, stream, throttle, toast, when, words } from './common.js';

// ---------- biomed board ----------

// A work order's reason in words: `recall:recall-1397` is "Recall recall-1397", `interval` is
// scheduled maintenance.
export function reasonText(r) {
  if (!r) return '';
  if (r.startsWith('recall:')) return `Recall ${r.slice(7)}`;
  if (r.startsWith('rule:')) return `Rule ${r.slice(5)}`;
  const say = { interval: 'Scheduled maintenance', runtime: 'Run-time service', cycles: 'Actuator-cycle service', repair: 'Repair',
    inspection: 'Inspection', damaged: 'Damaged', 'missing-parts': 'Missing parts', 'cleaning-failed': 'Cleaning failed' };
  return say[r] || words(r).replaceAll('-', ' ');
}

function limits(m) {
  if (m.min !== undefined && m.max !== undefined) return `${m.min} to ${m.max} ${m.unit}`;
  if (m.max !== undefined) return `at most ${m.max} ${m.unit}`;
  if (m.min !== undefined) return `at least ${m.min} ${m.unit}`;
  return m.unit;
}

// Completing a work order with the result of each of its checks: passed or failed, or the value
// measured (which passes only within its limits, shown beside it).
function checksForm(w, post) {
  const rows = w.checks.map((c) => {
    const m = w.measures && w.measures[c];
    const input = m ? h('input', { type: 'number', step: 'any', class: 'value', 'data-check': c, 'aria-label': `${c}, in ${m.unit}`, required: true })
      : h('select', { class: 'passed', 'data-check': c, 'aria-label': c }, h('option', { value: '' }, 'Result…'), h('option', { value: 'true' }, 'Passed'), h('option', { value: 'false' }, 'Failed'));
    return h('tr', {}, h('td', {}, c), h('td', {}, input, m ? h('span', { class: 'muted small' }, ` ${m.unit} (${limits(m)})`) : null));
  });
  const form = h('form', { class: 'checks' }, h('table', { class: 'small' }, h('tbody', {}, rows)),
    h('button', { type: 'submit', class: 'primary complete' }, 'Complete with these results'));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const results = [];
    for (const el of form.querySelectorAll('[data-check]')) {
      if (el.value === '') { el.focus(); toast(`Enter the result of "${el.dataset.check}".`); return; }
      results.push(el.classList.contains('value') ? { check: el.dataset.check, value: Number(el.value) } : { check: el.dataset.check, passed: el.value === 'true' });
    }
    post({ action: 'complete', notes: null, results }, 'Complete')({ currentTarget: form.querySelector('button.complete') });
  });
  return h('details', { class: 'more checks-box' }, h('summary', {}, `Complete: enter the results of ${w.checks.length} checks`), form);
}

export async function biomedPage(main, params) {
  const signal = S.page.ctrl.signal;
  const cols = h('div', { class: 'columns', id: 'work-orders' });
  const pullBox = h('div', { id: 'pull' });
  const recallBox = h('div', { id: 'recalls' });
  const compBox = h('div', { id: 'compliance' });
  const predBox = h('div', { id: 'predictions' });
  const infBox = h('div', { id: 'infusion' });
  const shop = S.fp.rooms.find((r) => /biomed/i.test(r.id));
  const fromSel = h('select', { id: 'pull-from' });
  for (const r of [...S.fp.rooms].sort((a, b) => a.id.localeCompare(b.id))) fromSel.append(h('option', { value: r.id, selected: shop && r.id === shop.id }, `${r.id} ${r.name}`));
  if (params.get('from')) fromSel.value = params.get('from');
  const within = h('input', { id: 'pull-days', type: 'number', min: '1', max: '366', value: params.get('within_days') || '14' });
  // Filters over the work orders (state, kind, unit, risk), kept in the URL's query.
  const filter = {};
  const filterSel = (key, label, options) => {
    const sel = h('select', { id: `f-${key}`, 'aria-label': label, onchange: () => { filter[key] = sel.value; redrawOrders(); } },
      h('option', { value: '' }, `Any ${label.toLowerCase()}`), options.map(([v, t]) => h('option', { value: v }, t)));
    if (params.get(key)) { sel.value = params.get(key); filter[key] = sel.value; }
    return h('label', { for: `f-${key}` }, label, sel);
  };
  const kindOpts = h('span', { id: 'f-kind-box' });
  const filters = h('div', { class: 'row filters', id: 'filters' },
    filterSel('status', 'State', [['open', 'Open'], ['scheduled', 'Scheduled'], ['in_progress', 'In progress']]),
    kindOpts,
    filterSel('unit', 'Unit', S.fp.units.map((u) => [u.id, `${u.id} ${u.name}`])),
    filterSel('risk', 'Risk', [['high', 'High'], ['medium', 'Medium'], ['low', 'Low']]));
  // A new work order: an item that needs attention, reported from the board.
  const assetIn = h('input', { id: 'new-asset', list: 'asset-ids', required: true, autocomplete: 'off', maxlength: '200' });
  const reasonIn = h('select', { id: 'new-reason' }, ['repair', 'inspection', 'damaged', 'missing-parts', 'cleaning-failed'].map((r) => h('option', { value: r }, reasonText(r))));
  const detailIn = h('input', { id: 'new-detail', required: true, maxlength: '2000', placeholder: 'What is wrong' });
  const ids = h('datalist', { id: 'asset-ids' });
  const newForm = h('form', { class: 'card row', id: 'new-wo' },
    h('label', { for: 'new-asset' }, 'Item (asset id)', assetIn), ids,
    h('label', { for: 'new-reason' }, 'Reason', reasonIn),
    h('label', { for: 'new-detail', class: 'grow' }, 'Detail', detailIn),
    h('button', { type: 'submit', class: 'primary', id: 'new-go' }, 'Open work order'));
  newForm.addEventListener('submit', (ev) => {
    ev.preventDefault();
    if (!assetIn.value.trim()) { assetIn.focus(); toast('Which item?'); return; }
    if (!detailIn.value.trim()) { detailIn.focus(); toast('Say what is wrong.'); return; }
    act(document.getElementById('new-go'), 'Open work order', () => api('/api/v1/maintenance/work-orders',
      { body: { asset: assetIn.value.trim(), reason: reasonIn.value, detail: detailIn.value.trim() } })
      .then(() => { detailIn.value = ''; return refreshOrders(); }));
  });
  const doneBox = h('div', { id: 'completed' });
  main.append(h('h1', {}, 'Biomedical engineering'),
    h('div', { class: 'biomed' },
      h('section', { 'aria-labelledby': 'h-wo' }, h('h2', { id: 'h-wo' }, 'Work orders'),
        h('details', { class: 'new' }, h('summary', {}, 'Open a work order…'), newForm), filters, cols,
        h('h2', { id: 'h-done' }, 'Completed recently, with check results'), doneBox),
      h('div', {},
        h('section', { 'aria-labelledby': 'h-pull' }, h('h2', { id: 'h-pull' }, 'Pull list and round'),
          h('div', { class: 'row' }, h('label', { for: 'pull-from' }, 'Start from', fromSel), h('label', { for: 'pull-days' }, 'Due within (days)', within),
            h('button', { type: 'button', class: 'primary', id: 'pull-go', onclick: () => refreshPull().catch(() => {}) }, 'Make the list')), pullBox),
        h('section', { 'aria-labelledby': 'h-pred' }, h('h2', { id: 'h-pred' }, 'Predictions'), predBox),
        h('section', { 'aria-labelledby': 'h-rec' }, h('h2', { id: 'h-rec' }, 'Recalls'), recallBox),
        h('section', { 'aria-labelledby': 'h-comp' }, h('h2', { id: 'h-comp' }, 'Scheduled maintenance completion (last 90 days)'), compBox),
        h('section', { 'aria-labelledby': 'h-inf' }, h('h2', { id: 'h-inf' }, 'Infusion safety: drug library (last 7 days)'), infBox))));

  const PRED = { battery: 'Prediction: battery', 'occlusion-rate': 'Prediction: occlusion rate', 'fault-rate': 'Prediction: fault rate' };

  function woCard(w) {
    const id = encodeURIComponent(w.id);
    const at = h('input', { type: 'datetime-local', 'aria-label': 'Scheduled for', class: 'at' });
    const who = h('input', { type: 'text', 'aria-label': 'Assignee', placeholder: 'Assignee', class: 'who', maxlength: '2000' });
    const why = h('input', { type: 'text', 'aria-label': 'Reason to cancel', placeholder: 'Reason to cancel', class: 'why', maxlength: '2000' });
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
    if (w.status === 'in_progress') {
      if (w.checks && w.checks.length) main.push(checksForm(w, post));
      else main.push(h('button', { type: 'button', class: 'primary complete', onclick: post({ action: 'complete', notes: null }, 'Complete') }, 'Complete'));
    }
    more.push(h('div', { class: 'row' }, why, h('button', { type: 'button', class: 'cancel', onclick: (e) => {
      if (!why.value.trim()) { why.focus(); toast('Say why it is not needed.'); return; }
      post({ action: 'cancel', reason: why.value.trim() }, 'Cancel')(e);
    } }, 'Cancel order')));
    return h('article', { class: `card wo risk-${w.risk}`, 'data-wo': w.id, 'data-status': w.status },
      h('div', {}, h('strong', {}, `${w.asset}`), ` ${words(w.asset_kind)}${w.model ? ` (${w.model})` : ''}`),
      h('div', {}, h('span', { class: `tag${PRED[w.reason] ? ' predicted' : ''}` }, PRED[w.reason] || reasonText(w.reason)), h('span', { class: 'tag' }, `${w.risk} risk`),
        w.unit ? h('span', { class: 'tag' }, w.unit) : null),
      h('p', { class: 'detail' }, w.detail),
      h('p', { class: 'muted small' }, `Opened ${when(w.opened_at)} by ${w.opened_by}${w.scheduled_for ? `; scheduled ${when(w.scheduled_for)}${w.assignee ? ` for ${w.assignee}` : ''}` : ''}`),
      w.checks && w.checks.length && w.status !== 'in_progress' ? h('details', {}, h('summary', {}, `Checks (${w.checks.length})`), h('ul', { class: 'small' }, w.checks.map((c) => h('li', {}, c, w.measures && w.measures[c] ? ` — ${limits(w.measures[c])}` : '')))) : null,
      h('div', { class: 'row' }, main, h('details', { class: 'more' }, h('summary', {}, w.status === 'in_progress' ? 'Cancel…' : 'Schedule or cancel…'), more)));
  }

  let orders = [];
  function redrawOrders() {
    const shown = orders.filter((w) => (!filter.status || w.status === filter.status) && (!filter.kind || w.asset_kind === filter.kind)
      && (!filter.unit || w.unit === filter.unit) && (!filter.risk || w.risk === filter.risk));
    const by = { open: [], scheduled: [], in_progress: [] };
    for (const w of shown) if (by[w.status]) by[w.status].push(w);
    const col = (key, title) => h('div', { 'data-column': key }, h('h3', {}, `${title} (${by[key].length})`),
      by[key].length ? by[key].map(woCard) : h('p', { class: 'muted' }, 'None.'));
    redraw(cols, [col('open', 'Open'), col('scheduled', 'Scheduled'), col('in_progress', 'In progress')].filter((c) => !filter.status || c.dataset.column === filter.status), 'data-wo');
  }

  const refreshOrders = refresher(async () => {
    const [open, done] = await Promise.all([api('/api/v1/maintenance/work-orders?status=open&limit=500', { signal }),
      api('/api/v1/maintenance/work-orders?status=done&limit=8', { signal })]);
    orders = open;
    const kinds = [...new Set(orders.map((w) => w.asset_kind))].sort();
    if (!document.getElementById('f-kind')) {
      kindOpts.replaceWith(filterSel('kind', 'Kind', kinds.map((k) => [k, words(k)])));
    }
    redrawOrders();
    fill(doneBox, done.length ? h('ul', { class: 'done' }, done.map((w) => h('li', { 'data-done': w.id },
      h('strong', {}, w.asset), ` ${words(w.asset_kind)} — ${reasonText(w.reason)}, done ${when(w.closed_at)}${w.closed_by ? ` by ${w.closed_by}` : ''}`,
      w.results && w.results.length ? h('ul', { class: 'results small' }, w.results.map((r) => h('li', { class: r.passed ? 'pass' : 'fail' },
        `${r.passed ? '✔ passed' : '✖ FAILED'}: ${r.check}${r.value !== undefined && r.value !== null ? ` — ${r.value} ${r.unit || ''}` : ''}`))) : h('div', { class: 'muted small' }, 'No check results recorded.'))))
      : h('p', { class: 'muted' }, 'Nothing completed in the last 90 days.'));
    const predicted = orders.filter((w) => PRED[w.reason]);
    fill(predBox, ...(predicted.length ? [h('ul', {}, predicted.map((w) => h('li', { 'data-prediction': w.id },
      h('strong', {}, w.asset), ` (${words(w.asset_kind)}${w.model ? `, ${w.model}` : ''}) — ${PRED[w.reason].replace('Prediction: ', '')}: `, w.detail)))]
      : [h('p', { class: 'muted' }, 'No failure predicted within the horizon (battery run time, occlusion and fault rates are watched).')]));
  }, signal);

  const refreshPull = refresher(async () => {
    const p = await api(`/api/v1/maintenance/pull-list?from=${encodeURIComponent(fromSel.value)}&within_days=${encodeURIComponent(within.value || 14)}`, { signal });
    const rows = p.items.map((it) => h('tr', { 'data-pull': it.asset },
      h('td', {}, it.asset, h('div', { class: 'muted' }, words(it.kind))),
      h('td', {}, it.due.map((d) => h('div', {}, `${reasonText(d.reason)}${d.due_at ? ` (due ${when(d.due_at)})` : ''}`))),
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
  }, signal);

  const refreshRecalls = refresher(async () => {
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
  }, signal);

  const refreshCompliance = refresher(async () => {
    const rep = await api('/api/v1/maintenance/report', { signal });
    fill(compBox, !rep.completion.some((c) => c.due > 0) ? h('p', {}, 'No scheduled maintenance fell due in the last 90 days.') : h('table', {}, h('thead', {}, h('tr', {}, ...['Risk', 'Due', 'On time', 'Late', 'Overdue', 'Pending', 'Cancelled', 'Completion'].map((x) => h('th', {}, x)))),
      h('tbody', {}, rep.completion.map((c) => h('tr', { 'data-risk': c.risk }, h('td', {}, c.risk), h('td', {}, c.due), h('td', {}, c.on_time), h('td', {}, c.late),
        h('td', {}, c.overdue), h('td', {}, c.pending), h('td', {}, c.cancelled),
        h('td', {}, c.completion === null || c.completion === undefined ? '—' : `${(100 * c.completion).toFixed(1)} %${c.risk === 'high' && c.completion < 1 ? ' ✖ (high risk needs 100 %)' : ''}`))))),
    h('p', { class: 'muted' }, `Downtime in the window: ${rep.downtime_hours.toFixed(1)} h. Overdue work orders: ${rep.overdue.length}.`));
  }, signal);

  // Drug-library compliance per unit and the drugs most overridden (ISMP): from the committed
  // infusion records (GET /api/v1/reports/infusion, also as CSV).
  const refreshInfusion = refresher(async () => {
    const rep = await api('/api/v1/reports/infusion', { signal });
    const pct = (x) => (x === null || x === undefined ? '—' : `${(100 * x).toFixed(1)} %`);
    if (!rep.total.infusions && !rep.total.infusion_hours) {
      fill(infBox, h('p', {}, 'No pump has reported an infusion in the last 7 days.'));
      return;
    }
    const drugs = rep.drugs.filter((d) => d.soft_overrides + d.hard_stops > 0)
      .sort((a, b) => (b.soft_overrides + b.hard_stops) - (a.soft_overrides + a.hard_stops)).slice(0, 5);
    fill(infBox,
      h('table', {}, h('thead', {}, h('tr', {}, ...['Unit', 'Infusions', 'With the library', 'Compliance', 'Basic mode', 'Overrides', 'Hard stops', 'Alerts per infusion hour'].map((x) => h('th', {}, x)))),
        h('tbody', {}, [...rep.units, rep.total].map((u) => h('tr', { 'data-unit': u.key },
          h('td', {}, u.key === 'all' ? 'All units' : u.key), h('td', {}, u.infusions), h('td', {}, u.with_library),
          h('td', {}, `${pct(u.compliance)}${u.compliance !== null && u.compliance !== undefined && u.compliance < 0.95 ? ' ✖ (below 95 %)' : ''}`),
          h('td', {}, u.basic_mode), h('td', {}, u.soft_overrides), h('td', {}, u.hard_stops),
          h('td', {}, u.alerts_per_infusion_hour === null || u.alerts_per_infusion_hour === undefined ? '—' : u.alerts_per_infusion_hour.toFixed(2)))))),
      drugs.length ? h('p', { id: 'overridden' }, 'Most overridden: ', drugs.map((d) => `${d.key} (${d.soft_overrides} override${d.soft_overrides === 1 ? '' : 's'}, ${d.hard_stops} hard stop${d.hard_stops === 1 ? '' : 's'})`).join('; '), '.')
        : h('p', { class: 'muted' }, 'No overrides or hard stops in the window.'));
  }, signal);

  await Promise.all([refreshOrders(), refreshRecalls(), refreshCompliance(), refreshPull(), refreshInfusion(),
    api('/api/v1/assets?limit=100000', { signal }).then((list) => fill(ids, list.map((a) => h('option', { value: a.id }, `${words(a.kind)}${a.model ? `, ${a.model}` : ''}`))))]);
  const later = throttle(() => { refreshOrders().catch(() => {}); refreshRecalls().catch(() => {}); }, 500);
  // The infusion figures move slowly: once a minute is enough.
  const tick = setInterval(() => refreshInfusion().catch(() => {}), 60_000);
  signal.addEventListener('abort', () => clearInterval(tick));
  // Reload at every (re)connection, the first included: what was committed between the first
  // load and the stream's start would otherwise never be shown.
  stream('/api/v1/events?kind=workorder.opened,workorder.updated,recall.opened,recall.updated', later,
    async () => { later(); }, signal);
}
