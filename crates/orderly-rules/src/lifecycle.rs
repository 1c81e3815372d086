//! The alert lifecycle, as a pure state machine: one open alert per (rule, subject); hold
//! timers ("true for 2 min"); clearing delays; repeats that update instead of duplicating;
//! acknowledgement, escalation, reminders, silence with automatic re-enable; resolution by the
//! condition or by hand. Every transition returns the event that says so.
//!
//! Time only moves through the `now` passed in, so tests step it as they like.

use crate::facts::Facts;
use crate::rule::{Resolve, Rule, RuleSet, after};
use orderly_model::{Alert, AlertKind, AlertState, EventKind, Priority, Timestamp};
use std::collections::BTreeMap;

/// (rule id, subject id).
pub type Key = (String, String);

/// Longest a person may silence an alert for.
pub const MAX_SILENCE_MS: i64 = 60 * 60_000;

/// Where an alert about a subject goes and what it says, as last evaluated.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Placement {
    pub message: String,
    pub room: Option<String>,
    pub unit: Option<String>,
    /// The data's time when it arrived late (`Alert::data_at`).
    pub data_at: Option<Timestamp>,
}

impl Placement {
    pub fn of(rule: &Rule, facts: &Facts) -> Placement {
        Placement {
            message: rule.message.render(facts),
            room: facts.room.clone(),
            unit: facts.unit.clone(),
            data_at: facts.data_at,
        }
    }
}

/// The placement's message, saying how old its data was when it arrived late: a nurse must
/// know that a bed exit alerted now happened minutes ago.
fn late(p: &Placement, now: Timestamp) -> String {
    match p.data_at {
        Some(at) => format!(
            "{} (from data sent {} ago, delivered late)",
            p.message,
            age(now.millis().saturating_sub(at.millis()))
        ),
        None => p.message.clone(),
    }
}

/// A duration in words: `45 s`, `4 min`, `2 h 5 min`.
fn age(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    match s {
        0..60 => format!("{s} s"),
        60..3600 => format!("{} min", s / 60),
        _ => format!("{} h {} min", s / 3600, s % 3600 / 60),
    }
}

/// The state of one (rule, subject) between evaluations.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Tracker {
    /// The condition (`when`) at the last evaluation, whatever `unless` said.
    pub holds: bool,
    /// True since then, waiting for the rule's `for`.
    pub pending_since: Option<Timestamp>,
    /// False since then, waiting for the rule's `clear_for`.
    pub clearing_since: Option<Timestamp>,
    /// Resolved by hand while the condition held: no new alert until it clears.
    pub wait_for_clear: bool,
    /// `when` holds and `unless` too, since then: the rule is paused (care at the bedside).
    pub paused_since: Option<Timestamp>,
    pub placement: Placement,
}

impl Tracker {
    fn idle(&self) -> bool {
        !self.holds
            && self.pending_since.is_none()
            && self.clearing_since.is_none()
            && !self.wait_for_clear
    }
}

/// Why an operator's command was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    #[error("no open alert has the id `{0}`")]
    NotFound(String),
    #[error("the alert was already acknowledged by {by}")]
    AlreadyAcknowledged { by: String },
    #[error("a silence must last from 1 s to 60 min")]
    BadSilence,
    #[error("a reason is required to resolve an alert by hand")]
    NoReason,
}

/// An operator's action on an alert.
#[derive(Clone, Debug, PartialEq)]
pub enum AlertCommand {
    Acknowledge {
        id: String,
        by: String,
    },
    Resolve {
        id: String,
        by: String,
        reason: String,
    },
    Silence {
        id: String,
        by: String,
        for_ms: i64,
    },
    /// A hospital alert manager says what became of the alert (delivered, accepted by whom).
    Disposition {
        id: String,
        disposition: orderly_model::Disposition,
    },
}

/// Open alerts and the trackers behind them.
#[derive(Debug, Default)]
pub struct Alerting {
    // Written only through the methods below (which forget `due`); read with `open()`.
    pub(crate) open: BTreeMap<Key, Alert>,
    pub(crate) trackers: BTreeMap<Key, Tracker>,
    /// The first instant (ms) at which [`tick`](Self::tick) has something to do (a `for` or
    /// `clear_for` ends, a silence, an escalation or a reminder is due), as of its last pass;
    /// None when unknown (anything else that takes `&mut self` forgets it). A tick before it
    /// returns at once: a step walked every open alert and tracker, and a replayed day, which
    /// nobody acknowledges, ends with hundreds open.
    due: Option<i64>,
}

impl Alerting {
    /// The open alerts, by (rule, subject).
    pub fn open(&self) -> &BTreeMap<Key, Alert> {
        &self.open
    }

    /// The (rule, subject) pairs paused now (`when` holds, and `unless` too), with since when.
    pub fn paused(&self) -> impl Iterator<Item = (&Key, Timestamp)> {
        self.trackers
            .iter()
            .filter_map(|(k, t)| t.paused_since.map(|at| (k, at)))
    }

    /// Whether the lifecycle holds anything for `rule` about `subject`: a condition holding,
    /// a `for` or `clear_for` under way, or an open alert. When it does not, and the facts the
    /// rule's conditions read are unchanged, evaluating it again changes nothing (its message
    /// is only rendered while its condition holds).
    pub fn watching(&self, rule: &str, subject: &str) -> bool {
        let key = (rule.to_string(), subject.to_string());
        self.trackers.contains_key(&key) || self.open.contains_key(&key)
    }

    /// Puts back alerts that were open before a restart; their conditions count as holding
    /// until evaluated again, so they are neither repeated nor duplicated.
    pub fn restore(&mut self, alerts: Vec<Alert>) {
        self.due = None;
        for a in alerts {
            let key = (a.rule.clone(), a.subject.clone());
            self.trackers.insert(
                key.clone(),
                Tracker {
                    holds: true,
                    placement: Placement {
                        message: a.message.clone(),
                        room: a.room.clone(),
                        unit: a.unit.clone(),
                        data_at: a.data_at,
                    },
                    ..Tracker::default()
                },
            );
            self.open.insert(key, a);
        }
    }

    /// Records a new evaluation of `rule` on `subject` and returns what it changed.
    pub fn observe(
        &mut self,
        rule: &Rule,
        subject: &str,
        holds: bool,
        facts: &Facts,
        now: Timestamp,
    ) -> Vec<EventKind> {
        self.due = None;
        self.observe_standing(rule, subject, (holds, holds), facts, now)
    }

    /// The same with `when` and the whole rule (`when` and not `unless`) apart. While `unless`
    /// holds (care at the bedside, say) no alert is raised and the `for` starts again, but an
    /// open alert stays open: it resolves only when `when` itself clears. So a nurse walking in
    /// and out does not resolve and re-raise the same lapse.
    pub fn observe_standing(
        &mut self,
        rule: &Rule,
        subject: &str,
        (when, holds): (bool, bool),
        facts: &Facts,
        now: Timestamp,
    ) -> Vec<EventKind> {
        self.due = None;
        let key = (rule.id.clone(), subject.to_string());
        let mut out = Vec::new();
        let mut tr = self.trackers.remove(&key).unwrap_or_default();
        let rising = holds && !tr.holds;
        tr.holds = when;
        let paused = when && !holds;
        tr.paused_since = if paused {
            tr.paused_since.or(Some(now))
        } else {
            None
        };
        if paused {
            tr.pending_since = None;
            tr.clearing_since = None;
        } else if holds {
            tr.placement = Placement::of(rule, facts);
            tr.clearing_since = None;
            if !tr.wait_for_clear {
                if let Some(alert) = self.open.get_mut(&key) {
                    if rising {
                        alert.count += 1;
                        alert.message = late(&tr.placement, now);
                        alert.data_at = tr.placement.data_at;
                        alert.room = tr.placement.room.clone();
                        alert.updated_at = now;
                        // A rule a person resolves (a fall) rising again is a new event, not a
                        // flap: its recipients are told again, an acknowledgement of the first
                        // no longer covers it, and escalation starts over (a silence holds).
                        if rule.resolve == Resolve::Manual {
                            alert.notified_at = now;
                            alert.escalation = 0;
                            alert.escalation_base = now;
                            alert.audience = rule.audience(0, alert.unit.as_deref());
                            if alert.state == AlertState::Acknowledged {
                                alert.state = AlertState::Active;
                                alert.acknowledged_by = None;
                                alert.acknowledged_at = None;
                            }
                        }
                        out.push(EventKind::AlertUpdated(Box::new(alert.clone())));
                    }
                } else {
                    let since = *tr.pending_since.get_or_insert(now);
                    if now.millis() - since.millis() >= rule.hold_ms {
                        tr.pending_since = None;
                        out.push(self.raise(rule, subject, &tr.placement, now));
                    }
                }
            }
        } else {
            tr.pending_since = None;
            tr.wait_for_clear = false;
            if rule.resolve == Resolve::Auto && self.open.contains_key(&key) {
                let since = *tr.clearing_since.get_or_insert(now);
                if now.millis() - since.millis() >= rule.clear_for_ms {
                    tr.clearing_since = None;
                    out.extend(self.close(&key, now, "system", "condition cleared"));
                }
            }
        }
        if !tr.idle() {
            self.trackers.insert(key, tr);
        }
        out
    }

    fn raise(&mut self, rule: &Rule, subject: &str, p: &Placement, now: Timestamp) -> EventKind {
        let alert = Alert {
            id: format!("{}:{subject}:{}", rule.id, now.millis()),
            rule: rule.id.clone(),
            subject: subject.to_string(),
            unit: p.unit.clone(),
            room: p.room.clone(),
            priority: rule.priority,
            category: rule.kind,
            state: AlertState::Active,
            title: rule.title.clone(),
            message: late(p, now),
            raised_at: now,
            updated_at: now,
            count: 1,
            audience: rule.audience(0, p.unit.as_deref()),
            escalation: 0,
            escalation_base: now,
            notified_at: now,
            acknowledged_by: None,
            acknowledged_at: None,
            silenced_until: None,
            silenced_by: None,
            resolved_at: None,
            resolved_by: None,
            resolution: None,
            data_at: p.data_at,
            dispositions: Vec::new(),
        };
        self.open
            .insert((rule.id.clone(), subject.to_string()), alert.clone());
        EventKind::AlertRaised(Box::new(alert))
    }

    fn close(&mut self, key: &Key, now: Timestamp, by: &str, why: &str) -> Option<EventKind> {
        let mut a = self.open.remove(key)?;
        a.state = AlertState::Resolved;
        a.updated_at = now;
        a.resolved_at = Some(now);
        a.resolved_by = Some(by.to_string());
        a.resolution = Some(why.to_string());
        a.silenced_until = None;
        Some(EventKind::AlertResolved(Box::new(a)))
    }

    /// Timers: holds that ran their time, clearing delays, silences that ran out, escalation
    /// steps and reminders that are due.
    pub fn tick(&mut self, rules: &RuleSet, now: Timestamp) -> Vec<EventKind> {
        if self.due.is_some_and(|d| now.millis() < d) {
            return Vec::new();
        }
        let out = self.tick_all(rules, now);
        self.due = Some(self.next_due(rules));
        out
    }

    /// The first instant (ms) at which a tick has something to do, as things stand (i64::MAX:
    /// nothing waits for time). The same tests as [`tick_all`](Self::tick_all)'s.
    fn next_due(&self, rules: &RuleSet) -> i64 {
        let mut due = i64::MAX;
        for (key, tr) in &self.trackers {
            if tr.pending_since.is_none() && tr.clearing_since.is_none() {
                continue;
            }
            // A tracker whose rule is gone waits for nothing (tick_all skips it too).
            let Some(rule) = rules.get(&key.0) else {
                continue;
            };
            if let Some(since) = tr.pending_since {
                due = due.min(since.millis().saturating_add(rule.hold_ms));
            }
            if let Some(since) = tr.clearing_since {
                due = due.min(since.millis().saturating_add(rule.clear_for_ms));
            }
        }
        for (key, a) in &self.open {
            if let Some(until) = a.silenced_until {
                due = due.min(until.millis());
                continue;
            }
            let Some(rule) = rules.get(&key.0) else {
                continue;
            };
            if a.state == AlertState::Active
                && let Some(next) = rule.escalate.get(a.escalation as usize)
            {
                due = due.min(after(a.escalation_base, next.after_ms).millis());
            }
            if let Some(every) = rule.remind_every_ms {
                due = due.min(after(a.notified_at, every).millis());
            }
        }
        due
    }

    /// Fires every timer that is due: `for` and `clear_for` ends, silences, escalations and
    /// reminders.
    pub(crate) fn tick_all(&mut self, rules: &RuleSet, now: Timestamp) -> Vec<EventKind> {
        let mut out = Vec::new();
        let mut raise = Vec::new();
        let mut close = Vec::new();
        for (key, tr) in &mut self.trackers {
            // Most trackers wait for nothing (their alert is open, or their `unless` holds):
            // the rule is looked up by its id only for one with a timer running.
            if tr.pending_since.is_none() && tr.clearing_since.is_none() {
                continue;
            }
            let Some(rule) = rules.get(&key.0) else {
                continue;
            };
            if let Some(since) = tr.pending_since
                && now.millis() - since.millis() >= rule.hold_ms
            {
                tr.pending_since = None;
                raise.push((rule.clone(), key.1.clone(), tr.placement.clone()));
            }
            if let Some(since) = tr.clearing_since
                && now.millis() - since.millis() >= rule.clear_for_ms
            {
                tr.clearing_since = None;
                close.push(key.clone());
            }
        }
        for (rule, subject, p) in raise {
            if !self.open.contains_key(&(rule.id.clone(), subject.clone())) {
                out.push(self.raise(&rule, &subject, &p, now));
            }
        }
        for key in close {
            out.extend(self.close(&key, now, "system", "condition cleared"));
        }
        self.trackers.retain(|_, t| !t.idle());
        for (key, a) in &mut self.open {
            if let Some(until) = a.silenced_until {
                if now < until {
                    continue;
                }
                a.silenced_until = None;
                a.silenced_by = None;
                a.escalation_base = now;
                a.notified_at = now;
                a.updated_at = now;
                out.push(EventKind::AlertUnsilenced(Box::new(a.clone())));
                continue;
            }
            let Some(rule) = rules.get(&key.0) else {
                continue;
            };
            let step = a.escalation as usize;
            if a.state == AlertState::Active
                && let Some(next) = rule.escalate.get(step)
                && now >= after(a.escalation_base, next.after_ms)
            {
                a.escalation += 1;
                a.audience = rule.audience(step + 1, a.unit.as_deref());
                a.notified_at = now;
                a.updated_at = now;
                out.push(EventKind::AlertEscalated(Box::new(a.clone())));
                continue;
            }
            if let Some(every) = rule.remind_every_ms
                && now >= after(a.notified_at, every)
            {
                a.notified_at = now;
                a.updated_at = now;
                out.push(EventKind::AlertReminder(Box::new(a.clone())));
            }
        }
        out
    }

    fn find(&mut self, id: &str) -> Result<(&Key, &mut Alert), CommandError> {
        self.open
            .iter_mut()
            .find(|(_, a)| a.id == id)
            .ok_or_else(|| CommandError::NotFound(id.to_string()))
    }

    /// Somebody takes the alert: escalation stops; it stays open until resolved.
    pub fn acknowledge(
        &mut self,
        id: &str,
        by: &str,
        now: Timestamp,
    ) -> Result<EventKind, CommandError> {
        self.due = None;
        let (_, a) = self.find(id)?;
        if let (AlertState::Acknowledged, Some(who)) = (a.state, &a.acknowledged_by) {
            return Err(CommandError::AlreadyAcknowledged { by: who.clone() });
        }
        a.state = AlertState::Acknowledged;
        a.acknowledged_by = Some(by.to_string());
        a.acknowledged_at = Some(now);
        a.notified_at = now;
        a.updated_at = now;
        Ok(EventKind::AlertAcknowledged(Box::new(a.clone())))
    }

    /// Records what an alert manager reported of an open alert (the newest
    /// [`Alert::MAX_DISPOSITIONS`] kept). Changes nothing else: a person accepting it on a
    /// phone is shown, not taken as an acknowledgement at the station.
    pub fn disposition(
        &mut self,
        id: &str,
        d: orderly_model::Disposition,
        now: Timestamp,
    ) -> Result<EventKind, CommandError> {
        self.due = None;
        let (_, a) = self.find(id)?;
        a.dispositions.push(d);
        let over = a.dispositions.len().saturating_sub(Alert::MAX_DISPOSITIONS);
        a.dispositions.drain(..over);
        a.updated_at = now;
        Ok(EventKind::AlertDisposition(Box::new(a.clone())))
    }

    /// Silences the alert for `for_ms`; it sounds again by itself when the time runs out.
    pub fn silence(
        &mut self,
        id: &str,
        by: &str,
        for_ms: i64,
        now: Timestamp,
    ) -> Result<EventKind, CommandError> {
        self.due = None;
        if !(1000..=MAX_SILENCE_MS).contains(&for_ms) {
            return Err(CommandError::BadSilence);
        }
        let (_, a) = self.find(id)?;
        a.silenced_until = Some(after(now, for_ms));
        a.silenced_by = Some(by.to_string());
        a.updated_at = now;
        Ok(EventKind::AlertSilenced(Box::new(a.clone())))
    }

    /// Resolves the alert by hand. If its condition still holds, no new alert is raised until
    /// the condition has cleared.
    pub fn resolve(
        &mut self,
        id: &str,
        by: &str,
        reason: &str,
        now: Timestamp,
    ) -> Result<EventKind, CommandError> {
        self.due = None;
        if reason.trim().is_empty() {
            return Err(CommandError::NoReason);
        }
        let key = self.find(id)?.0.clone();
        if let Some(tr) = self.trackers.get_mut(&key) {
            tr.clearing_since = None;
            tr.pending_since = None;
            tr.wait_for_clear = tr.holds;
        }
        self.close(&key, now, by, reason.trim())
            .ok_or_else(|| CommandError::NotFound(id.to_string()))
    }

    /// After a reload: alerts of rules that are gone are resolved; trackers of rules that
    /// survive keep their hold timers, open alerts and escalation steps.
    pub fn retain_rules(&mut self, rules: &RuleSet, now: Timestamp) -> Vec<EventKind> {
        self.due = None;
        let gone: Vec<Key> = self
            .open
            .keys()
            .filter(|k| !k.0.starts_with(crate::rule::SYSTEM_PREFIX) && rules.get(&k.0).is_none())
            .cloned()
            .collect();
        self.trackers.retain(|k, _| rules.get(&k.0).is_some());
        gone.iter()
            .filter_map(|k| self.close(k, now, "system", "rule removed"))
            .collect()
    }

    /// A subject that no longer exists (a PAR level removed): its open alerts are resolved and
    /// its timers dropped.
    pub fn forget_subject(&mut self, subject: &str, now: Timestamp, why: &str) -> Vec<EventKind> {
        self.due = None;
        let keys: Vec<Key> = self
            .open
            .keys()
            .filter(|k| k.1 == subject)
            .cloned()
            .collect();
        self.trackers.retain(|k, _| k.1 != subject);
        keys.iter()
            .filter_map(|k| self.close(k, now, "system", why))
            .collect()
    }

    /// The subject moved to another unit (a patient transferred): its open alerts go to that
    /// unit's recipients at their escalation step, and say so.
    pub fn rehome(
        &mut self,
        rules: &RuleSet,
        subject: &str,
        unit: Option<&str>,
        room: Option<&str>,
        now: Timestamp,
    ) -> Vec<EventKind> {
        self.due = None;
        let mut out = Vec::new();
        for ((rule_id, s), a) in self.open.iter_mut() {
            if s != subject || a.unit.as_deref() == unit {
                continue;
            }
            let Some(rule) = rules.get(rule_id) else {
                continue;
            };
            a.unit = unit.map(str::to_string);
            a.room = room.map(str::to_string);
            a.audience = rule.audience(a.escalation as usize, unit);
            a.updated_at = now;
            out.push(EventKind::AlertUpdated(Box::new(a.clone())));
        }
        for ((_, s), tr) in self.trackers.iter_mut() {
            if s == subject {
                tr.placement.unit = unit.map(str::to_string);
                tr.placement.room = room.map(str::to_string);
            }
        }
        out
    }

    /// Orderly's own technical alert (a rule failing, a rule set rejected), to admins.
    pub fn raise_system(
        &mut self,
        rule_id: &str,
        subject: &str,
        title: &str,
        message: String,
        now: Timestamp,
    ) -> Option<EventKind> {
        self.due = None;
        self.raise_system_to(rule_id, subject, title, message, &["role:admin"], now)
    }

    /// Orderly's own technical alert to `audience` (`role:admin`, `role:biomed`, ...).
    pub fn raise_system_to(
        &mut self,
        rule_id: &str,
        subject: &str,
        title: &str,
        message: String,
        audience: &[&str],
        now: Timestamp,
    ) -> Option<EventKind> {
        self.due = None;
        let key = (rule_id.to_string(), subject.to_string());
        if let Some(a) = self.open.get_mut(&key) {
            if a.message == message {
                return None;
            }
            a.message = message;
            a.count += 1;
            a.updated_at = now;
            return Some(EventKind::AlertUpdated(Box::new(a.clone())));
        }
        let alert = Alert {
            id: format!("{rule_id}:{subject}:{}", now.millis()),
            rule: rule_id.to_string(),
            subject: subject.to_string(),
            unit: None,
            room: None,
            priority: Priority::Low,
            category: AlertKind::Technical,
            state: AlertState::Active,
            title: title.to_string(),
            message,
            raised_at: now,
            updated_at: now,
            count: 1,
            audience: audience.iter().map(|a| a.to_string()).collect(),
            escalation: 0,
            escalation_base: now,
            notified_at: now,
            acknowledged_by: None,
            acknowledged_at: None,
            silenced_until: None,
            silenced_by: None,
            resolved_at: None,
            resolved_by: None,
            resolution: None,
            data_at: None,
            dispositions: Vec::new(),
        };
        self.open.insert(key, alert.clone());
        Some(EventKind::AlertRaised(Box::new(alert)))
    }

    /// Resolves one of Orderly's own alerts (the problem is gone).
    pub fn resolve_system(
        &mut self,
        rule_id: &str,
        subject: &str,
        why: &str,
        now: Timestamp,
    ) -> Option<EventKind> {
        self.due = None;
        self.close(
            &(rule_id.to_string(), subject.to_string()),
            now,
            "system",
            why,
        )
    }

    /// Open system alerts of `rule_id`, by subject.
    pub fn system_subjects(&self, rule_id: &str) -> Vec<String> {
        self.open
            .keys()
            .filter(|k| k.0 == rule_id)
            .map(|k| k.1.clone())
            .collect()
    }
}
