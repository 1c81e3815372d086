// The nursing-station board: a unit's open alerts, its beds, bed suggestions; acknowledge,
// resolve, silence; a banner and a tone for a new high-priority alert.

import { S, act, ago, api, beep, enableSound, fill, h, redraw, refresher, roomName, s, stream, throttle, toast, when, words } from './common.js';

// ---------- nursing-station board ----------

export async function stationPage(main, unit) {
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
  // The unit's patients by id (an alert about one links to their chart).
  let patients = new Set();
  const banner = document.getElementById('banner');
  let nagging = null;

  // Seen per occurrence: a second fall on an open fall alert (its count goes up) is news.
  const seenKey = (a) => `${a.id}#${a.count || 1}`;
  function unseenHigh() {
    return alerts.filter((a) => a.priority === 'high' && a.state === 'active' && !a.silenced_until && !S.seenHigh.has(seenKey(a)));
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
      h('button', { type: 'button', id: 'seen', onclick: () => { for (const x of fresh) S.seenHigh.add(seenKey(x));
        sessionStorage.setItem('orderly.seenHigh', JSON.stringify([...S.seenHigh].slice(-500))); cue();
        const card = alertsBox.querySelector(`[data-alert="${CSS.escape(a.id)}"]`); if (card) card.querySelector('button').focus(); } }, 'Seen — go to it'));
    banner.hidden = false;
    banner.classList.add('flash');
    document.body.dataset.alarm = 'on';
    document.title = `▲ ${fresh.length} NEW — ${unit} — Orderly`;
    if (!nagging) { beep(); nagging = setInterval(beep, 10000); S.page.timers.push(nagging); }
  }

  function card(a) {
    const reason = h('input', { type: 'text', 'aria-label': 'Reason for resolving', placeholder: 'Reason (required)', class: 'reason', maxlength: '2000' });
    const silenceFor = h('select', { 'aria-label': 'Silence for', class: 'silence-for' },
      h('option', { value: '120' }, '2 min'), h('option', { value: '300' }, '5 min'), h('option', { value: '900' }, '15 min'));
    const id = encodeURIComponent(a.id);
    const state = (a.state === 'acknowledged' ? (a.acknowledged_by ? `Acknowledged by ${a.acknowledged_by}` : 'Acknowledged') : 'Active — not acknowledged')
      + (a.silenced_until ? ` · Silenced until ${when(a.silenced_until)}` : '');
    return h('article', { class: `alert ${a.priority}`, 'data-alert': a.id, 'data-state': a.state, 'aria-label': `${a.priority} priority: ${a.title || a.rule}` },
      h('div', { class: 'meta' }, h('span', { class: `prio ${a.priority}` }, a.priority.toUpperCase()),
        h('span', { class: 'state' }, state),
        a.escalation > 0 ? h('span', { class: 'tag bad' }, `Escalated, step ${a.escalation}`) : null,
        a.count > 1 ? h('span', { class: 'tag bad', 'data-count': a.count }, `Happened ${a.count} times`) : null,
        a.data_at ? h('span', { class: 'tag bad', 'data-late': a.data_at }, `Delivered late: happened ${ago(a.data_at)} ago`) : null,
        h('span', { 'data-ago': a.raised_at }, `raised ${ago(a.raised_at)} ago`)),
      h('div', { class: 'title' }, `${a.title || a.rule}${a.room ? ` — ${roomName(a.room)}` : ''}`),
      about.has(a.subject) ? h('div', { class: 'about' }, about.get(a.subject),
        patients.has(a.subject) ? [' · ', h('a', { href: `#/chart/${encodeURIComponent(a.subject)}`, class: 'chart-link' }, 'Vital signs chart')] : null) : null,
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

  const refreshAlerts = refresher(async () => {
    alerts = await api(`/api/v1/units/${encodeURIComponent(unit)}/alerts`, { signal });
    drawAlerts();
  }, signal);

  // A patient's scores in words: a score not assessed yet says so (and what it means).
  function scores(p) {
    const un = (p.record && p.record.unassessed) || [];
    const morse = un.includes('morse') ? 'Morse not assessed yet (fall precautions)' : `Morse ${p.morse}`;
    const braden = un.includes('braden') ? 'Braden not assessed yet' : `Braden ${p.braden}`;
    return `${morse}, ${braden}${p.ventilated ? ', ventilated' : ''}`;
  }

  // The latest NEWS2: the score and the chart's response in words, the trend, when due.
  function news2(n, patient) {
    const href = `#/chart/${encodeURIComponent(patient)}`;
    if (!n) return h('a', { href, class: 'chart-link' }, 'Vital signs chart');
    const say = { routine: 'routine', low: 'low', single_parameter_3: 'a 3 in one parameter', medium: 'urgent response', high: 'emergency response' };
    const bad = ['medium', 'high', 'single_parameter_3'].includes(n.response);
    const due = n.due_at ? (Date.parse(n.due_at) < Date.now() ? '; observations overdue' : `; next obs within ${ago(new Date(2 * Date.now() - Date.parse(n.due_at)).toISOString())}`) : '';
    return h('a', { href, class: `tag news2 ${bad ? 'bad' : ''}`, title: `${n.detail} — open the chart` },
      `NEWS2 ${n.aggregate}${n.complete ? '' : ' (partial)'} — ${say[n.response] || n.response}${n.rise >= 2 ? `, up ${n.rise}` : ''}${due}`);
  }

  // An empty bed's turnover: dirty, being cleaned, clean, ready or blocked, and since when.
  function turnover(t) {
    if (!t) return 'empty';
    const since = t.since ? ` for ${ago(t.since)}` : '';
    switch (t.state) {
      case 'dirty': return `Empty — waiting for cleaning${since}`;
      case 'cleaning': return `Empty — being cleaned${since}`;
      case 'clean': return 'Empty — cleaned, being made ready';
      case 'ready': return 'Empty — ready for a patient';
      case 'blocked': return `Blocked: ${t.reason || 'no reason given'}`;
      default: return 'empty';
    }
  }

  function bedRow(b, names) {
    const bed = b.asset && b.asset.bed;
    const p = b.patient;
    // Two patients of one name on the unit: a wrong-patient risk, said on both beds.
    const twin = p && (names.get(p.name.trim().replace(/\s+/g, ' ').toLowerCase()) || []).filter((x) => x.bed !== b.bed);
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
      h('td', {}, p ? [p.name, h('div', { class: 'muted' }, scores(p)),
        p.record && p.record.isolation ? h('span', { class: 'tag bad' }, `Isolation: ${p.record.isolation}`) : null,
        twin && twin.length ? h('span', { class: 'tag bad same-name' }, `Same name as ${twin.map((x) => `bed ${x.bed} (${x.patient.id})`).join(', ')}: check identity`) : null,
        news2(p.news2, p.id)]
        : h('span', { class: 'muted' }, turnover(b.asset && b.asset.turnover))),
      h('td', {}, chips),
      h('td', {}, turning),
      h('td', {}, b.alerts.length ? b.alerts.map((a) => h('div', {}, h('span', { class: `prio ${a.priority}` }, a.priority.toUpperCase()), ` ${a.title || a.rule}`))
        : bed ? h('span', { class: 'tag good' }, 'None') : h('span', { class: 'muted' }, '—')));
  }

  const refreshBeds = refresher(async () => {
    const [beds, sugg] = await Promise.all([api(`/api/v1/units/${encodeURIComponent(unit)}/beds`, { signal }),
      api(`/api/v1/suggestions?unit=${encodeURIComponent(unit)}`, { signal })]);
    about = new Map();
    patients = new Set(beds.filter((b) => b.patient).map((b) => b.patient.id));
    for (const b of beds) {
      const text = `Bed ${b.bed}${b.patient ? ` · ${b.patient.name} (${b.patient.id}), Morse ${b.patient.morse}` : ''}`;
      about.set(b.bed, text);
      if (b.patient) about.set(b.patient.id, text);
    }
    drawAlerts();
    const names = new Map();
    for (const b of beds.filter((x) => x.patient)) {
      const k = b.patient.name.trim().replace(/\s+/g, ' ').toLowerCase();
      names.set(k, [...(names.get(k) || []), b]);
    }
    fill(bedsBox, h('table', { class: 'beds' },
      h('thead', {}, h('tr', {}, h('th', {}, 'Room'), h('th', {}, 'Patient'), h('th', {}, 'Bed'), h('th', {}, 'Turning'), h('th', {}, 'Open alerts'))),
      h('tbody', {}, beds.map((b) => bedRow(b, names)))));
    redraw(suggBox, (sugg.length ? sugg.map((x) => {
      const reason = h('input', { type: 'text', 'aria-label': 'Reason for dismissing', placeholder: 'Reason to dismiss', class: 'reason', maxlength: '2000' });
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
  }, signal);

  const alertsLater = throttle(() => refreshAlerts().catch(() => {}), 150);
  const bedsLater = throttle(() => refreshBeds().catch(() => {}), 1000);
  await Promise.all([refreshAlerts(), refreshBeds()]);
  S.page.timers.push(setInterval(() => {
    for (const e of alertsBox.querySelectorAll('[data-ago]')) e.textContent = `raised ${ago(e.dataset.ago)} ago`;
  }, 5000));
  S.page.timers.push(setInterval(bedsLater, 30000));
  const kinds = ['alert.raised', 'alert.updated', 'alert.acknowledged', 'alert.escalated', 'alert.reminder', 'alert.silenced',
    'alert.unsilenced', 'alert.resolved', 'bed.exit', 'patient.turned', 'bed.command', 'bed.command_acked', 'bed.suggested',
    'bed.suggestion_ended', 'bundle.changed', 'bed.turnover', 'patient.admitted', 'patient.transferred', 'patient.discharged',
    'patient.updated', 'patient.assessed', 'patient.admit_cancelled', 'patient.transfer_cancelled', 'patient.discharge_cancelled',
    'patient.merged', 'patient.observed'];
  stream(`/api/v1/units/${encodeURIComponent(unit)}/events?kind=${kinds.join(',')}`, (kind) => {
    if (kind.startsWith('alert.')) { alertsLater(); bedsLater(); }
    if (kind.startsWith('bed.') || kind.startsWith('patient.') || kind === 'bundle.changed') bedsLater();
    // Reload at every (re)connection, the first included: an alert committed between the first
    // load and the stream's start would otherwise be missing until the next one.
  }, async () => { alertsLater(); bedsLater(); }, signal);
}
