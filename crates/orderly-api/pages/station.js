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
  const more = h('p', { id: 'more-alerts', class: 'more-alerts', hidden: true });
  const sound = h('button', { type: 'button', id: 'sound', onclick: () => { enableSound(); sound.textContent = 'Sound on'; } },
    S.audio && S.audio.state === 'running' ? 'Sound on' : 'Turn sound on');
  const count = h('span', { id: 'count', class: 'muted' });
  // Two views of one board: tiles that fit a station screen, readable from across the room
  // (the default), and the detailed lists; D switches.
  let view = sessionStorage.getItem('orderly.stationView') === 'details' ? 'details' : 'board';
  const toggle = h('button', { type: 'button', id: 'view', 'aria-keyshortcuts': 'D', onclick: () => setView(view === 'board' ? 'details' : 'board') });
  const board = h('div', { class: 'board', id: 'board' },
    h('section', { 'aria-labelledby': 'h-alerts', class: 'alerts-col' }, h('h2', { id: 'h-alerts' }, 'Alerts'), alertsBox, more),
    h('div', { class: 'beds-col' },
      h('section', { 'aria-labelledby': 'h-sugg', id: 'sugg-section' }, h('h2', { id: 'h-sugg' }, 'Bed settings to confirm at the bedside'), suggBox),
      h('section', { 'aria-labelledby': 'h-beds' }, h('h2', { id: 'h-beds' }, 'Beds'), bedsBox)));
  main.append(h('div', { class: 'row station-head' }, h('h1', {}, `${u.name} — nursing station`), count, toggle, sound), board);
  function setView(v) {
    view = v;
    sessionStorage.setItem('orderly.stationView', v);
    board.dataset.view = v;
    document.body.dataset.view = v;
    toggle.textContent = v === 'board' ? 'Detailed lists (D)' : 'Room tiles (D)';
    drawBeds();
    drawAlerts();
  }
  const onKey = (e) => {
    if ((e.key === 'd' || e.key === 'D') && !e.ctrlKey && !e.metaKey && !e.altKey
      && !['INPUT', 'SELECT', 'TEXTAREA'].includes(document.activeElement && document.activeElement.tagName)) {
      setView(view === 'board' ? 'details' : 'board');
    }
  };
  document.addEventListener('keydown', onKey);
  const onResize = () => fitAlerts();
  window.addEventListener('resize', onResize);
  signal.addEventListener('abort', () => window.removeEventListener('resize', onResize));
  signal.addEventListener('abort', () => { document.removeEventListener('keydown', onKey); delete document.body.dataset.view; });

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
    // What the hospital's alert manager last said of it: whether anyone has it on a phone.
    const last = (a.dispositions || [])[(a.dispositions || []).length - 1];
    const reach = last ? `${last.status[0].toUpperCase()}${last.status.slice(1)}${last.by ? ` by ${last.by}` : ''}${last.device ? `${last.by ? ' on' : ' to'} ${last.device}` : ''}, ${ago(last.at)} ago` : null;
    return h('article', { class: `alert ${a.priority}`, 'data-alert': a.id, 'data-state': a.state, 'aria-label': `${a.priority} priority: ${a.title || a.rule}` },
      h('div', { class: 'meta' }, h('span', { class: `prio ${a.priority}` }, a.priority.toUpperCase()),
        h('span', { class: 'state' }, state),
        a.escalation > 0 ? h('span', { class: 'tag bad' }, `Escalated, step ${a.escalation}`) : null,
        a.count > 1 ? h('span', { class: 'tag bad', 'data-count': a.count }, `Happened ${a.count} times`) : null,
        a.data_at ? h('span', { class: 'tag bad', 'data-late': a.data_at }, `Delivered late: happened ${ago(a.data_at)} ago`) : null,
        h('span', { 'data-ago': a.raised_at }, `raised ${ago(a.raised_at)} ago`)),
      reach ? h('div', { class: `reach ${last.status}`, 'data-disposition': last.status }, `📱 ${reach}`) : null,
      h('div', { class: 'title' }, `${a.title || a.rule}${a.room ? ` — ${roomName(a.room)}` : ''}`),
      about.has(a.subject) ? h('div', { class: 'about' }, about.get(a.subject),
        patients.has(a.subject) ? [' · ', h('a', { href: `#/chart/${encodeURIComponent(a.subject)}`, class: 'chart-link' }, 'Vital signs chart')] : null) : null,
      h('div', { class: 'msg' }, a.message),
      h('div', { class: 'actions' },
        a.state === 'active' ? h('button', { type: 'button', class: 'primary ack', onclick: (e) => act(e.currentTarget, 'Acknowledge', () => api(`/api/v1/alerts/${id}/acknowledge`, { body: {} }).then(shown)) }, 'Acknowledge') : null,
        reason,
        h('button', { type: 'button', class: 'resolve', onclick: (e) => {
          if (!reason.value.trim()) { reason.focus(); toast('Say why it is resolved.'); return; }
          act(e.currentTarget, 'Resolve', () => api(`/api/v1/alerts/${id}/resolve`, { body: { reason: reason.value.trim() } }).then(shown));
        } }, 'Resolve'),
        silenceFor,
        h('button', { type: 'button', class: 'silence', onclick: (e) => act(e.currentTarget, 'Silence', () => api(`/api/v1/alerts/${id}/silence`, { body: { seconds: Number(silenceFor.value) } }).then(shown)) }, 'Silence')));
  }

  // A write's answer is the alert as it now stands: shown at once, then the list read again
  // (which, read after the answer, already has it).
  function shown(a) {
    if (a && a.id) {
      alerts = a.state === 'resolved' ? alerts.filter((x) => x.id !== a.id) : alerts.map((x) => (x.id === a.id ? a : x));
      drawAlerts();
    }
    return refreshAlerts();
  }

  function drawAlerts() {
    redraw(alertsBox, alerts.length ? alerts.map(card) : [h('p', { class: 'empty card' }, '✔ No open alerts for this unit.')], 'data-alert');
    count.textContent = `${alerts.length} open (${alerts.filter((a) => a.state === 'active').length} not acknowledged)`;
    cue();
    // On the tiles view the list shows what fits, most urgent first, and says how many more;
    // measured at once (a forced layout), so no frame ever shows the list overflowing.
    fitAlerts();
  }

  function fitAlerts() {
    const cards = [...alertsBox.querySelectorAll('[data-alert]')];
    for (const c of cards) c.hidden = false;
    more.hidden = true;
    const overflows = () => cards.length && cards[cards.length - 1].getBoundingClientRect().bottom > alertsBox.getBoundingClientRect().bottom + 1;
    if (view !== 'board' || !window.matchMedia('(min-width: 1300px)').matches || !overflows()) return;
    // Some do not fit: make room for the line that says so, then hide from the first that
    // does not fit.
    more.textContent = '+ more alerts: press D for the full list';
    more.hidden = false;
    const bottom = alertsBox.getBoundingClientRect().bottom;
    let hidden = 0;
    for (const c of cards) if (hidden || c.getBoundingClientRect().bottom > bottom + 1) { c.hidden = true; hidden++; }
    more.textContent = `+ ${hidden} more alert${hidden > 1 ? 's' : ''}: press D for the full list`;
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
        : bed ? h('span', { class: 'tag good' }, 'None') : h('span', { class: 'muted' }, '—'),
        (b.paused || []).map((x) => h('div', { class: 'paused' }, `${x.title}: paused, ${x.because} (for ${ago(x.since)})`)),
        (b.staff_present || []).length ? h('div', { class: 'muted' }, `In the room: ${b.staff_present.map((x) => `${x.name} (${words(x.role)})`).join(', ')}`) : null));
  }

  // The last read of the unit's beds and suggestions, drawn by the view in force.
  let beds = [];
  let sugg = [];

  // Two patients of one name on the unit: a wrong-patient risk, said on both beds.
  function sameNames() {
    const names = new Map();
    for (const b of beds.filter((x) => x.patient)) {
      const k = b.patient.name.trim().replace(/\s+/g, ' ').toLowerCase();
      names.set(k, [...(names.get(k) || []), b]);
    }
    return names;
  }

  // What is unsafe about an occupied bed, in a word or two each; nothing when all is well.
  // The fall-risk items count for a patient at high risk of falling (Morse 45 or more, or not
  // assessed yet), brakes for everyone.
  function bedProblems(b, p) {
    const bed = b.asset && b.asset.bed;
    if (!bed || !p) return [];
    const out = [];
    if (!bed.brakes) out.push('Brakes OFF');
    const highFall = p.morse >= 45 || ((p.record && p.record.unassessed) || []).includes('morse');
    if (highFall) {
      if (bed.height !== 'low') out.push('Bed not low');
      const up = Object.values(bed.rails || {}).filter((x) => x === true || x === 'up').length;
      if (up < 2) out.push(`Rails ${up} up`);
      if (bed.exit_alarm === 'off' && !(b.asset.bed_exit && b.asset.bed_exit.armed)) out.push('Exit alarm off');
    }
    if (p.ventilated && bed.hob_deg < 30) out.push(`Head ${Math.round(bed.hob_deg)}°`);
    return out;
  }

  // A room's tile: big enough to read from across the station, every state in words and shape.
  let short = (x) => x;
  function tile(b, names) {
    const bed = b.asset && b.asset.bed;
    const p = b.patient;
    const top = b.alerts[0];
    const twin = p && (names.get(p.name.trim().replace(/\s+/g, ' ').toLowerCase()) || []).filter((x) => x.bed !== b.bed);
    const risks = [];
    if (p) {
      const un = (p.record && p.record.unassessed) || [];
      if (un.includes('morse')) risks.push(h('span', { class: 'chip bad', title: 'Morse not assessed yet: fall precautions' }, 'Morse not assessed'));
      else if (p.morse >= 45) risks.push(h('span', { class: 'chip bad', title: `Morse ${p.morse}` }, 'Fall risk'));
      if (!un.includes('braden') && p.braden <= 12) risks.push(h('span', { class: 'chip bad', title: `Braden ${p.braden}` }, 'Skin risk'));
      if (p.news2) {
        const bad = ['medium', 'high', 'single_parameter_3'].includes(p.news2.response);
        risks.push(h('a', { class: `chip ${bad ? 'bad' : ''}`, href: `#/chart/${encodeURIComponent(p.id)}`, title: p.news2.detail || '' }, `NEWS2 ${p.news2.aggregate}`));
      }
      if (p.record && p.record.isolation) risks.push(h('span', { class: 'chip bad' }, 'Isolation'));
      if (twin && twin.length) risks.push(h('span', { class: 'chip bad same-name', title: `Same name as ${twin.map((x) => `bed ${x.bed}`).join(', ')}: check identity` }, 'Same name'));
    }
    const problems = bedProblems(b, p);
    const t = p && p.turning;
    const turn = t && ['due', 'overdue', 'severely_overdue'].includes(t.state) ? h('span', { class: 'chip bad' }, `Turn ${words(t.state)}`) : null;
    const staff = b.staff_present || [];
    const paused = b.paused || [];
    const label = [b.room_name || 'not located', p ? p.name : 'empty', top ? `${top.priority} priority alert: ${top.title || top.rule}` : 'no open alert'].join(', ');
    const shape = { high: '▲', medium: '◆', low: '●', advisory: 'i' };
    return h('article', { class: `tile ${top ? `has-${top.priority}` : ''} ${p ? '' : 'vacant'}`, 'data-bed': b.bed, 'aria-label': label, title: b.bed },
      h('div', { class: 't-head' },
        h('span', { class: 't-room' }, short(b.room_name) || 'not located'),
        top ? h('span', { class: `prio ${top.priority} shape`, 'aria-hidden': 'true' }, `${shape[top.priority] || ''}${b.alerts.length > 1 ? ` ${b.alerts.length}` : ''}`) : null),
      h('div', { class: 't-patient' }, p ? p.name : turnover(b.asset && b.asset.turnover)),
      top ? h('div', { class: `t-alert ${top.priority}`, title: top.message }, `${top.priority.toUpperCase()}: ${top.title || top.rule}`) : null,
      p && bed ? h('div', { class: 't-row' }, problems.length ? problems.map((x) => h('span', { class: 'chip bad' }, x)) : h('span', { class: 'chip good' }, 'Bed safe')) : null,
      staff.length ? h('div', { class: 't-staff' }, `◉ ${staff.map((x) => `${x.name.split(' ').pop()} (${words(x.role)})`).join(', ')} in room`) : null,
      paused.length ? h('div', { class: 't-paused', title: paused.map((x) => `${x.title}: paused, ${x.because}`).join('; ') },
        `Paused, ${paused[0].because}: ${paused.map((x) => x.title).join('; ')}`) : null,
      turn ? h('div', { class: 't-row' }, turn) : null,
      risks.length ? h('div', { class: 't-row' }, risks) : null);
  }

  // Tiles name rooms without the words every room of the unit shares ("3 West room 2",
  // "3 West room 12" become "Room 2", "Room 12"); the full name is in the tile's label.
  function shortNames() {
    const all = beds.map((b) => (b.room_name || '').split(' '));
    let k = 0;
    while (all.length > 1 && all.every((w) => w.length > k + 1 && w[k] === all[0][k])) k++;
    return (name) => {
      if (!name || !k) return name;
      const w = name.split(' ');
      const rest = w.slice(k).join(' ');
      const lead = w[k - 1];
      return /^\d/.test(rest) ? `${lead.charAt(0).toUpperCase()}${lead.slice(1)} ${rest}` : rest;
    };
  }

  function drawBeds() {
    const names = sameNames();
    short = shortNames();
    if (view === 'board') {
      const n = Math.max(beds.length, 1);
      const cols = n <= 4 ? n : n <= 12 ? 4 : n <= 24 ? 6 : 8;
      const grid = h('div', { class: 'tiles' }, beds.map((b) => tile(b, names)));
      // Through the CSSOM: the pages' CSP allows no inline style attributes.
      grid.style.setProperty('--cols', cols);
      grid.style.setProperty('--rows', Math.ceil(n / cols));
      fill(bedsBox, grid);
    } else {
      fill(bedsBox, h('table', { class: 'beds' },
        h('thead', {}, h('tr', {}, h('th', {}, 'Room'), h('th', {}, 'Patient'), h('th', {}, 'Bed'), h('th', {}, 'Turning'), h('th', {}, 'Open alerts'))),
        h('tbody', {}, beds.map((b) => bedRow(b, names)))));
    }
    document.getElementById('sugg-section').hidden = view === 'board' && !sugg.length;
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
  }

  const refreshBeds = refresher(async () => {
    [beds, sugg] = await Promise.all([api(`/api/v1/units/${encodeURIComponent(unit)}/beds`, { signal }),
      api(`/api/v1/suggestions?unit=${encodeURIComponent(unit)}`, { signal })]);
    about = new Map();
    patients = new Set(beds.filter((b) => b.patient).map((b) => b.patient.id));
    for (const b of beds) {
      const text = `Bed ${b.bed}${b.patient ? ` · ${b.patient.name} (${b.patient.id}), Morse ${b.patient.morse}` : ''}`;
      about.set(b.bed, text);
      if (b.patient) about.set(b.patient.id, text);
    }
    drawAlerts();
    drawBeds();
  }, signal);

  setView(view);
  const alertsLater = throttle(() => refreshAlerts().catch(() => {}), 150);
  const bedsLater = throttle(() => refreshBeds().catch(() => {}), 1000);
  await Promise.all([refreshAlerts(), refreshBeds()]);
  S.page.timers.push(setInterval(() => {
    for (const e of alertsBox.querySelectorAll('[data-ago]')) e.textContent = `raised ${ago(e.dataset.ago)} ago`;
  }, 5000));
  S.page.timers.push(setInterval(bedsLater, 30000));
  const kinds = ['alert.raised', 'alert.updated', 'alert.acknowledged', 'alert.escalated', 'alert.reminder', 'alert.silenced',
    'alert.unsilenced', 'alert.resolved', 'alert.disposition', 'bed.exit', 'patient.turned', 'bed.command', 'bed.command_acked', 'bed.suggested',
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
