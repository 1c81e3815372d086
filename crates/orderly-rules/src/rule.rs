//! Rule files (`rules/*.toml`): parsing and checking into a [`RuleSet`]. Every problem of every
//! file is reported at once, each with file, line, column and the fix.

use crate::check::{Problem, check_condition};
use crate::facts::{Fact, Facts};
use crate::schema::{self, SubjectType};
use orderly_model::{AlertKind, FileError, FileErrors, Priority, Source, Timestamp};
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;
use std::sync::Arc;
use toml::Spanned;

/// Longest condition accepted, in bytes: with no loops in CEL, this bounds evaluation cost.
pub const MAX_CONDITION_LEN: usize = 2000;

/// Ids a hospital's rules cannot use: Orderly's own technical alerts.
pub const SYSTEM_PREFIX: &str = "orderly.";

/// What a site has, for checking who a rule notifies.
#[derive(Clone, Debug, Default)]
pub struct Known {
    pub units: BTreeSet<String>,
    pub roles: BTreeSet<String>,
    /// Asset kinds in the registry.
    pub kinds: BTreeSet<String>,
    /// The models of each kind in the registry (for the maintenance catalogue).
    pub models: std::collections::BTreeMap<String, BTreeSet<String>>,
    /// The environment profiles the registry's sensors name, each with its first sensor.
    pub sensor_profiles: std::collections::BTreeMap<String, String>,
}

/// Who receives an alert.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// The nursing station of the subject's unit.
    Station,
    /// The nursing station of a named unit.
    Unit(String),
    /// Everyone with this role (on the subject's unit, for unit roles such as charge_nurse).
    Role(String),
    /// Overhead paging.
    Overhead,
}

impl Target {
    /// The audience string on an alert (`station:ICU`, `role:biomed`, `overhead`).
    pub fn audience(&self, unit: Option<&str>) -> String {
        match self {
            Target::Station => format!("station:{}", unit.unwrap_or("unassigned")),
            Target::Unit(u) => format!("station:{u}"),
            Target::Role(r) => format!("role:{r}"),
            Target::Overhead => "overhead".into(),
        }
    }

    fn spec(&self) -> String {
        match self {
            Target::Station => "station".into(),
            Target::Unit(u) => format!("unit:{u}"),
            Target::Role(r) => format!("role:{r}"),
            Target::Overhead => "overhead".into(),
        }
    }
}

/// One step of an escalation chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    /// Milliseconds after the alert was raised (or its silence ran out) without acknowledgement.
    pub after_ms: i64,
    pub to: Vec<Target>,
}

/// What a rule does when its condition holds.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// Raise an alert (the default).
    Alert,
    /// Ask the bed for settings that move nothing (`exit_alarm`, `brakes`, `surface`), over
    /// MQTT, with an acknowledgement (`set = { exit_alarm = "armed" }`). Settings that move the
    /// bed (`height`, `hob_deg`) are never commanded by a rule.
    BedCommand(BTreeMap<String, String>),
    /// Offer settings that move the bed (`hob_deg`, `height`) at the nursing station
    /// (`set = { hob_deg = "30" }`): sent only when a nurse confirms it while a caregiver badge
    /// is in the room; withdrawn when the condition (`when`) no longer holds.
    BedSuggestion(BTreeMap<String, String>),
    /// Open a maintenance work order on the subject (reason `rule:{id}`, the message as its
    /// detail), one open at a time per item.
    WorkOrder,
}

impl Action {
    /// The settings of a bed command or suggestion.
    pub fn settings(&self) -> Option<&BTreeMap<String, String>> {
        match self {
            Action::Alert | Action::WorkOrder => None,
            Action::BedCommand(s) | Action::BedSuggestion(s) => Some(s),
        }
    }
}

/// How an alert of the rule closes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resolve {
    /// When the condition has been false for `clear_for`.
    Auto,
    /// Only by a person (for events such as a fall, which have no "cleared" state).
    Manual,
}

/// A compiled CEL condition with its source.
#[derive(Debug)]
pub struct Condition {
    pub source: String,
    program: cel::Program,
    /// Fact groups it reads.
    pub groups: Vec<&'static str>,
    /// Facts it reads, `(group, fact)`, from its checked AST.
    pub facts: Vec<(&'static str, &'static str)>,
    /// Boolean facts it cannot hold without, and the value each must have.
    pub requires: Vec<((&'static str, &'static str), bool)>,
}

/// Why a condition could not be evaluated.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum EvalError {
    #[error("`{condition}` failed: {message}")]
    Failed { condition: String, message: String },
    #[error("`{condition}` gave {value} where true or false was needed")]
    NotBool { condition: String, value: String },
}

impl Condition {
    /// Whether a boolean fact the condition requires has the other value: then the condition
    /// is false whatever its other terms give (CEL's `&&` is false when any term is, errors in
    /// the others included), and it need not run.
    pub fn refuted_by(&self, facts: &Facts) -> bool {
        self.requires
            .iter()
            .any(|((g, f), want)| matches!(facts.get(g, f), Some(Fact::Bool(v)) if v != want))
    }

    /// [`Self::eval`], false at once when `facts` refute it ([`Self::refuted_by`]); `ctx` is
    /// built from `facts`.
    pub fn eval_over(&self, facts: &Facts, ctx: &cel::Context<'_, '_>) -> Result<bool, EvalError> {
        if self.refuted_by(facts) {
            return Ok(false);
        }
        self.eval(ctx)
    }

    pub fn eval(&self, ctx: &cel::Context<'_, '_>) -> Result<bool, EvalError> {
        // `resolve_val` rather than `Program::execute`, which converts the result to an owned
        // `Value` and so needs a context whose values are 'static: the facts' context borrows
        // from the facts.
        match cel::Value::resolve_val(self.program.expression(), ctx) {
            Ok(v) => match v.as_ref().downcast_ref::<cel::common::types::CelBool>() {
                Some(b) => Ok(**b),
                None => Err(EvalError::NotBool {
                    condition: self.source.clone(),
                    value: format!("{v:?}"),
                }),
            },
            Err(e) => Err(EvalError::Failed {
                condition: self.source.clone(),
                message: e.to_string(),
            }),
        }
    }
}

/// A message with `{group.fact}` placeholders.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Template {
    pub source: String,
    parts: Vec<Part>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Part {
    Text(String),
    Fact(&'static str, &'static str),
}

impl Template {
    /// The fact groups the message reads.
    pub fn groups(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.parts.iter().filter_map(|p| match p {
            Part::Fact(g, _) => Some(*g),
            Part::Text(_) => None,
        })
    }

    pub fn render(&self, facts: &Facts) -> String {
        let mut out = String::new();
        for p in &self.parts {
            match p {
                Part::Text(t) => out.push_str(t),
                Part::Fact(g, n) => {
                    let s = facts.get(g, n).map(|v| v.render()).unwrap_or_default();
                    // A person reads this: words for what is not known, never "?".
                    out.push_str(if s.is_empty() { unknown(g, n) } else { &s });
                }
            }
        }
        out
    }
}

/// What a message says for a fact that has no value (a tag never placed, a patient without a
/// name on file).
fn unknown(group: &str, fact: &str) -> &'static str {
    match (group, fact) {
        ("room", "name") | ("room", "id") => "an unknown room",
        ("room", "unit") | ("asset", "home_unit") => "an unknown unit",
        ("patient", "name") => "a patient with no name on file",
        (_, "model") => "an unknown model",
        ("pump", "faults") => "no fault codes",
        ("patient", "nearest_staff") => "nobody located nearby",
        _ => "(not known)",
    }
}

/// One checked rule.
#[derive(Debug)]
pub struct Rule {
    pub id: String,
    pub title: String,
    /// `file:line` where it is defined.
    pub defined_at: String,
    pub subject: SubjectType,
    pub when: Condition,
    pub unless: Option<Condition>,
    /// Why the rule is paused while `unless` holds, in words for the board ("a caregiver is
    /// in the room"); without it, the condition's text.
    pub paused_because: Option<String>,
    pub hold_ms: i64,
    pub clear_for_ms: i64,
    pub priority: Priority,
    pub kind: AlertKind,
    pub notify: Vec<Target>,
    pub escalate: Vec<Step>,
    pub remind_every_ms: Option<i64>,
    pub resolve: Resolve,
    pub message: Template,
    pub enabled: bool,
    /// Alert (default) or bed command.
    pub action: Action,
    /// A care bundle this rule checks (`bundle = "fall-risk"`): the time its subject spends with
    /// the bundle applying, and in compliance (`when` false), is reported per bed and unit.
    pub bundle: Option<String>,
    /// When the bundle applies to the subject (CEL); `unless` holding also takes the time out
    /// (care in progress).
    pub applies: Option<Condition>,
    /// Fact groups the conditions read.
    groups: Vec<&'static str>,
}

impl Rule {
    /// Why the rule is paused while `unless` holds, in words.
    pub fn paused_why(&self) -> String {
        match (&self.paused_because, &self.unless) {
            (Some(p), _) => p.clone(),
            (None, Some(u)) => format!("`{}` holds", u.source.trim()),
            (None, None) => String::new(),
        }
    }

    /// Fact groups the rule's conditions read.
    pub fn groups(&self) -> &[&'static str] {
        &self.groups
    }

    /// Whether what the rule decides or says (its conditions and its message) reads a group
    /// for which `changed` is true: if not, evaluating it again on the same subject gives the
    /// same standing and the same message.
    pub fn depends_on(&self, changed: impl Fn(&str) -> bool) -> bool {
        self.groups.iter().any(|g| changed(g)) || self.message.groups().any(changed)
    }

    /// Whether `when` reads `group.fact` (from the checked expression, never its text).
    pub fn reads(&self, group: &str, fact: &str) -> bool {
        self.when
            .facts
            .iter()
            .any(|(g, f)| *g == group && *f == fact)
    }

    /// The value `when` needs the boolean `group.fact` to have, when it is a term of its
    /// top-level conjunction (`bed.exited && !bed.exit_assisted` needs `exit_assisted` false).
    pub fn requires(&self, group: &str, fact: &str) -> Option<bool> {
        self.when
            .requires
            .iter()
            .find(|((g, f), _)| *g == group && *f == fact)
            .map(|(_, v)| *v)
    }

    /// Evaluates `when && !unless` over the facts.
    pub fn holds(&self, facts: &Facts) -> Result<bool, EvalError> {
        self.standing(facts, &facts.context())
            .map(|(_, holds)| holds)
    }

    /// `when`, and the whole rule, over `facts` and a context built from them once per subject
    /// ([`Facts::context_of`]), without running a condition that a required boolean fact
    /// already decides ([`Condition::refuted_by`]).
    pub fn standing(
        &self,
        facts: &Facts,
        ctx: &cel::Context<'_, '_>,
    ) -> Result<(bool, bool), EvalError> {
        self.standing_by(|c| c.eval_over(facts, ctx))
    }

    /// `when`, and the whole rule (`when` and not `unless`), every condition run in `ctx`.
    pub fn standing_in(&self, ctx: &cel::Context<'_, '_>) -> Result<(bool, bool), EvalError> {
        self.standing_by(|c| c.eval(ctx))
    }

    fn standing_by(
        &self,
        eval: impl Fn(&Condition) -> Result<bool, EvalError>,
    ) -> Result<(bool, bool), EvalError> {
        if !eval(&self.when)? {
            return Ok((false, false));
        }
        match &self.unless {
            Some(u) => Ok((true, !eval(u)?)),
            None => Ok((true, true)),
        }
    }

    /// For a bundle rule: (the bundle applies, and it is complied with) now.
    pub fn compliance_in(
        &self,
        ctx: &cel::Context<'_, '_>,
    ) -> Result<Option<(bool, bool)>, EvalError> {
        let (Some(_), Some(applies)) = (&self.bundle, &self.applies) else {
            return Ok(None);
        };
        let mut on = applies.eval(ctx)?;
        if on && let Some(u) = &self.unless {
            on = !u.eval(ctx)?;
        }
        Ok(Some((on, on && !self.when.eval(ctx)?)))
    }

    /// A canonical text of everything that defines the rule (not where it is written), to
    /// tell a changed rule from an unchanged one on reload.
    pub fn definition(&self) -> String {
        let mut s = String::new();
        let _ = write!(
            s,
            "{}|{}|{}|{}|{:?}|{}|{}|{:?}|{:?}|{:?}|{:?}|{:?}|{}|{}",
            self.id,
            self.title,
            self.subject.as_str(),
            self.when.source,
            self.unless.as_ref().map(|u| &u.source),
            self.hold_ms,
            self.clear_for_ms,
            self.priority,
            self.kind,
            self.notify.iter().map(Target::spec).collect::<Vec<_>>(),
            self.escalate
                .iter()
                .map(|s| (
                    s.after_ms,
                    s.to.iter().map(Target::spec).collect::<Vec<_>>()
                ))
                .collect::<Vec<_>>(),
            (self.remind_every_ms, self.resolve),
            self.message.source,
            self.enabled
        );
        match &self.action {
            Action::Alert => {}
            Action::BedCommand(set) => {
                let _ = write!(s, "|bed_command{set:?}");
            }
            Action::BedSuggestion(set) => {
                let _ = write!(s, "|bed_suggestion{set:?}");
            }
            Action::WorkOrder => {
                let _ = write!(s, "|work_order");
            }
        }
        if let Some(b) = &self.bundle {
            let _ = write!(s, "|{b}|{:?}", self.applies.as_ref().map(|a| &a.source));
        }
        if let Some(p) = &self.paused_because {
            let _ = write!(s, "|paused_because {p}");
        }
        s
    }

    /// The audience at escalation step `step` (0 = as raised).
    pub fn audience(&self, step: usize, unit: Option<&str>) -> Vec<String> {
        let targets = if step == 0 {
            &self.notify
        } else {
            match self.escalate.get(step - 1) {
                Some(s) => &s.to,
                None => &self.notify,
            }
        };
        targets.iter().map(|t| t.audience(unit)).collect()
    }
}

/// A checked set of rules, in file then definition order.
#[derive(Debug, Default)]
pub struct RuleSet {
    pub rules: Vec<Arc<Rule>>,
    /// Where each rule is in `rules`, by id: the engine looks rules up by id for every open
    /// alert and running timer at every step.
    /// Looked up for every open alert and held work order rule: foldhash, not SipHash.
    index: HashMap<String, usize, foldhash::fast::RandomState>,
    /// Each subject kind's rules, as places in `rules` in order: a subject's rules are found
    /// without walking every rule (once per subject whose facts changed).
    by_subject: Vec<(SubjectType, Vec<usize>)>,
}

impl RuleSet {
    /// Parses and checks rule files: `(file name, text)`. All problems are reported.
    pub fn compile(files: &[(String, String)], known: &Known) -> Result<RuleSet, FileErrors> {
        let mut errors = Vec::new();
        let mut rules = Vec::new();
        let mut seen: BTreeMap<String, String> = BTreeMap::new();
        for (name, text) in files {
            let src = Source::new(name, text);
            let file: FileToml = match src.parse_toml() {
                Ok(f) => f,
                Err(e) => {
                    errors.extend(e.0);
                    continue;
                }
            };
            for r in file.rule {
                match compile_rule(&src, r, known) {
                    Ok(rule) => {
                        if let Some(first) = seen.get(&rule.id) {
                            let (line, col) = line_col_of(&rule.defined_at);
                            errors.push(FileError {
                                file: name.clone(),
                                line,
                                column: col,
                                message: format!(
                                    "rule `{}` is already defined at {first}",
                                    rule.id
                                ),
                                fix: Some("give each rule its own id".into()),
                            });
                        } else {
                            seen.insert(rule.id.clone(), rule.defined_at.clone());
                            rules.push(Arc::new(rule));
                        }
                    }
                    Err(mut e) => errors.append(&mut e),
                }
            }
        }
        if errors.is_empty() {
            let index = rules
                .iter()
                .enumerate()
                .map(|(i, r)| (r.id.clone(), i))
                .collect();
            let mut by_subject: Vec<(SubjectType, Vec<usize>)> = Vec::new();
            for (i, r) in rules.iter().enumerate() {
                match by_subject.iter_mut().find(|(t, _)| *t == r.subject) {
                    Some((_, v)) => v.push(i),
                    None => by_subject.push((r.subject, vec![i])),
                }
            }
            Ok(RuleSet {
                rules,
                index,
                by_subject,
            })
        } else {
            Err(FileErrors(errors))
        }
    }

    /// The rules about a subject of any of these kinds, in the set's order.
    pub fn for_subject(&self, types: &[SubjectType]) -> Vec<&Arc<Rule>> {
        let mut at: Vec<usize> = self
            .by_subject
            .iter()
            .filter(|(t, _)| types.contains(t))
            .flat_map(|(_, v)| v.iter().copied())
            .collect();
        at.sort_unstable();
        at.into_iter().filter_map(|i| self.rules.get(i)).collect()
    }

    pub fn get(&self, id: &str) -> Option<&Arc<Rule>> {
        self.index
            .get(id)
            .and_then(|&i| self.rules.get(i))
            .filter(|r| r.id == id)
    }

    /// What changed from `old` to this set.
    pub fn diff(&self, old: &RuleSet) -> ReloadSummary {
        let mut s = ReloadSummary::default();
        for r in &self.rules {
            match old.get(&r.id) {
                None => s.added.push(r.id.clone()),
                Some(o) if o.definition() != r.definition() => s.changed.push(r.id.clone()),
                Some(_) => s.unchanged += 1,
            }
        }
        s.removed = old
            .rules
            .iter()
            .filter(|r| self.get(&r.id).is_none())
            .map(|r| r.id.clone())
            .collect();
        s
    }
}

/// What a reload changed, by rule id.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ReloadSummary {
    pub added: Vec<String>,
    pub changed: Vec<String>,
    pub removed: Vec<String>,
    pub unchanged: usize,
}

fn line_col_of(defined_at: &str) -> (usize, usize) {
    let line = defined_at
        .rsplit(':')
        .next()
        .and_then(|l| l.parse().ok())
        .unwrap_or(1);
    (line, 1)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileToml {
    #[serde(default)]
    rule: Vec<RuleToml>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleToml {
    id: Spanned<String>,
    title: String,
    subject: Spanned<String>,
    when: Spanned<String>,
    #[serde(default)]
    unless: Option<Spanned<String>>,
    #[serde(default)]
    paused_because: Option<Spanned<String>>,
    #[serde(default, rename = "for")]
    hold: Option<Spanned<String>>,
    #[serde(default)]
    clear_for: Option<Spanned<String>>,
    priority: Spanned<String>,
    kind: Spanned<String>,
    #[serde(default)]
    notify: Option<Vec<Spanned<String>>>,
    #[serde(default)]
    escalate: Vec<StepToml>,
    #[serde(default)]
    remind_every: Option<Spanned<String>>,
    #[serde(default)]
    resolve: Option<Spanned<String>>,
    message: Spanned<String>,
    #[serde(default)]
    action: Option<Spanned<String>>,
    #[serde(default = "yes")]
    enabled: bool,
    #[serde(default)]
    bundle: Option<Spanned<String>>,
    #[serde(default)]
    applies: Option<Spanned<String>>,
    #[serde(default)]
    set: Option<Spanned<BTreeMap<String, toml::Value>>>,
}

fn yes() -> bool {
    true
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StepToml {
    after: Spanned<String>,
    to: Vec<Spanned<String>>,
}

struct Ctx<'a> {
    src: &'a Source<'a>,
    errors: Vec<FileError>,
}

impl Ctx<'_> {
    fn err<T>(&mut self, at: &Spanned<T>, message: impl Into<String>, fix: Option<String>) {
        self.errors
            .push(self.src.error_at(at.span().start, message, fix));
    }

    /// A duration such as `30s`, `2m`, `1h 30m`.
    fn duration(&mut self, d: &Spanned<String>, max_ms: i64) -> i64 {
        match humantime::parse_duration(d.get_ref()) {
            Ok(v) => {
                let ms = i64::try_from(v.as_millis()).unwrap_or(i64::MAX);
                if ms > max_ms {
                    self.err(
                        d,
                        format!(
                            "`{}` is longer than the limit of {}",
                            d.get_ref(),
                            human(max_ms)
                        ),
                        Some("use a shorter duration".into()),
                    );
                }
                ms
            }
            Err(e) => {
                self.err(
                    d,
                    format!("`{}` is not a duration: {e}", d.get_ref()),
                    Some("write it like `30s`, `2m`, `1h 30m` or `500ms`".into()),
                );
                0
            }
        }
    }

    /// Where the text of a string value starts (after its opening quotes).
    fn content_start(&self, s: &Spanned<String>) -> usize {
        let start = s.span().start;
        let rest = &self.src.text[start.min(self.src.text.len())..];
        if rest.starts_with("\"\"\"") || rest.starts_with("'''") {
            let after = start + 3;
            match &self.src.text.as_bytes()[after.min(self.src.text.len())..] {
                [b'\r', b'\n', ..] => after + 2,
                [b'\n', ..] => after + 1,
                _ => after,
            }
        } else {
            start + 1
        }
    }

    fn condition(&mut self, s: &Spanned<String>, subject: SubjectType) -> Option<Condition> {
        let source = s.get_ref().trim().to_string();
        if source.len() > MAX_CONDITION_LEN {
            self.err(
                s,
                format!(
                    "the condition is {} bytes long; the limit is {MAX_CONDITION_LEN}",
                    source.len()
                ),
                Some("split it into several rules".into()),
            );
            return None;
        }
        let base = self.content_start(s) + (s.get_ref().len() - s.get_ref().trim_start().len());
        // The parser is generated code: a panic on some input must not take the process down.
        let compiled = std::panic::catch_unwind(|| cel::Program::compile(&source));
        let program = match compiled {
            Ok(Ok(p)) => p,
            Ok(Err(e)) => {
                for pe in e.errors {
                    let offset = offset_of(&source, pe.pos.0, pe.pos.1);
                    let msg = pe.msg.trim_start_matches("Syntax error: ").to_string();
                    self.errors.push(self.src.error_at(
                        base + offset,
                        format!("the condition does not parse: {msg}"),
                        Some("see the CEL syntax in docs/rules.md".into()),
                    ));
                }
                return None;
            }
            Err(_) => {
                self.err(s, "the condition cannot be parsed", None);
                return None;
            }
        };
        match check_condition(&program, subject) {
            Ok(reads) => Some(Condition {
                source,
                program,
                groups: reads.groups,
                facts: reads.facts,
                requires: reads.requires,
            }),
            Err(problems) => {
                for Problem {
                    offset,
                    message,
                    fix,
                } in problems
                {
                    self.errors
                        .push(self.src.error_at(base + offset, message, fix));
                }
                None
            }
        }
    }

    fn target(&mut self, t: &Spanned<String>, known: &Known) -> Option<Target> {
        let v = t.get_ref().as_str();
        let target = match v.split_once(':') {
            None if v == "station" => Target::Station,
            None if v == "overhead" => Target::Overhead,
            Some(("unit", u)) => {
                if !known.units.contains(u) {
                    let fix = match schema::suggest(u, known.units.iter().map(String::as_str)) {
                        Some(s) => format!("did you mean `unit:{s}`?"),
                        None => format!(
                            "the floorplan's units are: {}",
                            known.units.iter().cloned().collect::<Vec<_>>().join(", ")
                        ),
                    };
                    self.err(t, format!("unknown unit `{u}`"), Some(fix));
                    return None;
                }
                Target::Unit(u.to_string())
            }
            Some(("role", r)) => {
                if !known.roles.contains(r) {
                    let fix = match schema::suggest(r, known.roles.iter().map(String::as_str)) {
                        Some(s) => format!("did you mean `role:{s}`?"),
                        None => format!(
                            "known roles: {}",
                            known.roles.iter().cloned().collect::<Vec<_>>().join(", ")
                        ),
                    };
                    self.err(t, format!("unknown role `{r}`"), Some(fix));
                    return None;
                }
                Target::Role(r.to_string())
            }
            _ => {
                self.err(
                    t,
                    format!("`{v}` is not a recipient"),
                    Some("write `station` (the subject's unit), `unit:ICU`, `role:biomed` or `overhead`".into()),
                );
                return None;
            }
        };
        Some(target)
    }

    fn template(&mut self, m: &Spanned<String>, subject: SubjectType) -> Template {
        let text = m.get_ref();
        let base = self.content_start(m);
        let mut parts = Vec::new();
        let mut lit = String::new();
        let mut rest = text.as_str();
        let mut pos = 0;
        while let Some(i) = rest.find(['{', '}']) {
            lit.push_str(&rest[..i]);
            let c = rest.as_bytes()[i];
            if rest[i + 1..].starts_with(c as char) {
                lit.push(c as char);
                rest = &rest[i + 2..];
                pos += i + 2;
                continue;
            }
            if c == b'}' {
                self.errors.push(self.src.error_at(
                    base + pos + i,
                    "a `}` without its `{`",
                    Some("write `}}` for a literal brace".into()),
                ));
                rest = &rest[i + 1..];
                pos += i + 1;
                continue;
            }
            let Some(end) = rest[i..].find('}') else {
                self.errors.push(self.src.error_at(
                    base + pos + i,
                    "a `{` without its `}`",
                    Some("close the placeholder, or write `{{` for a literal brace".into()),
                ));
                rest = "";
                break;
            };
            let name = rest[i + 1..i + end].trim();
            let at = base + pos + i;
            match name.split_once('.') {
                Some((g, f)) if subject.groups().contains(&g) && schema::fact(g, f).is_some() => {
                    if !lit.is_empty() {
                        parts.push(Part::Text(std::mem::take(&mut lit)));
                    }
                    let g = subject
                        .groups()
                        .iter()
                        .find(|x| **x == g)
                        .copied()
                        .unwrap_or("");
                    let f = schema::fact(g, f).map_or("", |d| d.name);
                    parts.push(Part::Fact(g, f));
                }
                _ => {
                    let all = subject.groups().iter().flat_map(|g| {
                        schema::group(g)
                            .unwrap_or_default()
                            .iter()
                            .map(move |d| format!("{g}.{}", d.name))
                    });
                    let all: Vec<String> = all.collect();
                    let fix = match schema::suggest(name, all.iter().map(String::as_str)) {
                        Some(s) => format!("did you mean `{{{s}}}`?"),
                        None => format!(
                            "a {} rule's message can use {}",
                            subject.as_str(),
                            subject
                                .groups()
                                .iter()
                                .map(|g| format!("{{{g}.…}}"))
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    };
                    self.errors.push(self.src.error_at(
                        at,
                        format!("unknown fact `{name}` in the message"),
                        Some(fix),
                    ));
                }
            }
            rest = &rest[i + end + 1..];
            pos += i + end + 1;
        }
        lit.push_str(rest);
        if !lit.is_empty() {
            parts.push(Part::Text(lit));
        }
        Template {
            source: text.clone(),
            parts,
        }
    }
}

fn human(ms: i64) -> String {
    humantime::format_duration(std::time::Duration::from_millis(ms.max(0) as u64)).to_string()
}

/// Byte offset in `text` of a parser position (1-based line, column in characters).
fn offset_of(text: &str, line: isize, col: isize) -> usize {
    let mut offset = 0;
    for (i, l) in text.split_inclusive('\n').enumerate() {
        if i as isize + 1 == line {
            let col = col.max(0) as usize;
            return offset
                + l.char_indices()
                    .nth(col)
                    .map_or(l.trim_end_matches('\n').len(), |(b, _)| b);
        }
        offset += l.len();
    }
    text.len()
}

fn compile_rule(src: &Source, r: RuleToml, known: &Known) -> Result<Rule, Vec<FileError>> {
    let mut c = Ctx {
        src,
        errors: Vec::new(),
    };
    let id = r.id.get_ref().clone();
    let (line, _) = src.line_col(r.id.span().start);
    let id_ok = !id.is_empty()
        && id
            .chars()
            .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '-' || ch == '_');
    if !id_ok {
        c.err(
            &r.id,
            format!("`{id}` is not a rule id"),
            Some("use lower-case letters, digits, `-` and `_`".into()),
        );
    } else if id.starts_with(SYSTEM_PREFIX) {
        c.err(
            &r.id,
            format!("ids starting with `{SYSTEM_PREFIX}` are Orderly's own"),
            None,
        );
    }
    let subject = match SubjectType::ALL
        .iter()
        .find(|s| s.as_str() == r.subject.get_ref())
    {
        Some(s) => *s,
        None => {
            c.err(
                &r.subject,
                format!("unknown subject `{}`", r.subject.get_ref()),
                Some(format!(
                    "one of: {}",
                    SubjectType::ALL.map(|s| s.as_str()).join(", ")
                )),
            );
            return Err(c.errors);
        }
    };
    let when = c.condition(&r.when, subject);
    let unless = r.unless.as_ref().map(|u| c.condition(u, subject));
    let applies = r.applies.as_ref().map(|a| c.condition(a, subject));
    match (&r.bundle, &r.applies) {
        (Some(b), None) => c.err(
            b,
            "a bundle needs `applies`: when the bundle applies to the subject",
            Some(
                "add applies = \"<CEL>\", e.g. \"patient.fall_risk == 'high' && bed.occupied\""
                    .into(),
            ),
        ),
        (None, Some(a)) => c.err(
            a,
            "`applies` without `bundle`",
            Some("name the bundle: bundle = \"fall-risk\"".into()),
        ),
        _ => {}
    }
    const DAY: i64 = 86_400_000;
    let hold_ms = r.hold.as_ref().map_or(0, |d| c.duration(d, DAY));
    let clear_for_ms = r.clear_for.as_ref().map_or(0, |d| c.duration(d, DAY));
    let remind_every_ms = r.remind_every.as_ref().map(|d| {
        let ms = c.duration(d, DAY);
        if ms < 10_000 {
            c.err(
                d,
                "reminders more often than every 10 s are noise",
                Some("use at least `10s`".into()),
            );
        }
        ms
    });
    let priority = match Priority::parse(r.priority.get_ref()) {
        Some(p) => p,
        None => {
            c.err(
                &r.priority,
                format!("unknown priority `{}`", r.priority.get_ref()),
                Some("one of: high, medium, low, advisory (IEC 60601-1-8)".into()),
            );
            Priority::Low
        }
    };
    let kind = match AlertKind::parse(r.kind.get_ref()) {
        Some(k) => k,
        None => {
            c.err(
                &r.kind,
                format!("unknown kind `{}`", r.kind.get_ref()),
                Some("one of: physiological, technical, advisory".into()),
            );
            AlertKind::Technical
        }
    };
    let notify: Vec<Target> = match &r.notify {
        None => vec![Target::Station],
        Some(ts) => ts.iter().filter_map(|t| c.target(t, known)).collect(),
    };
    let mut escalate = Vec::new();
    let mut last = 0;
    for s in &r.escalate {
        let after_ms = c.duration(&s.after, DAY);
        if after_ms <= last {
            c.err(
                &s.after,
                "each escalation step must come later than the one before",
                Some("`after` counts from when the alert was raised".into()),
            );
        }
        last = after_ms;
        escalate.push(Step {
            after_ms,
            to: s.to.iter().filter_map(|t| c.target(t, known)).collect(),
        });
    }
    let resolve = match r.resolve.as_ref().map(|s| s.get_ref().as_str()) {
        None | Some("auto") => Resolve::Auto,
        Some("manual") => Resolve::Manual,
        Some(other) => {
            if let Some(s) = &r.resolve {
                c.err(
                    s,
                    format!("unknown resolve mode `{other}`"),
                    Some("`auto` (when the condition clears) or `manual` (by a person)".into()),
                );
            }
            Resolve::Auto
        }
    };
    let mut action = Action::Alert;
    match (r.action.as_ref().map(|a| a.get_ref().as_str()), &r.set) {
        (None | Some("alert"), None) => {}
        (None | Some("alert"), Some(set)) => c.err(
            set,
            "`set` belongs to a bed command or suggestion",
            Some("add action = \"bed_command\" (or \"bed_suggestion\" for hob_deg, height)".into()),
        ),
        (Some(kind @ ("bed_command" | "bed_suggestion")), set) => {
            let a = r.action.as_ref().expect("matched Some");
            let motion = kind == "bed_suggestion";
            let what = if motion {
                "a bed suggestion"
            } else {
                "a bed command"
            };
            if subject != SubjectType::Bed {
                c.err(a, format!("{what} needs subject = \"bed\""), None);
            }
            match set {
                None => c.err(
                    a,
                    format!("{what} needs `set`"),
                    Some(if motion {
                        "set = { hob_deg = 30 } (hob_deg, height)".into()
                    } else {
                        "set = { exit_alarm = \"armed\" } (exit_alarm, brakes, surface)".into()
                    }),
                ),
                Some(set) => match bed_settings(set.get_ref(), motion) {
                    Ok(s) if motion => action = Action::BedSuggestion(s),
                    Ok(s) => action = Action::BedCommand(s),
                    Err((msg, fix)) => c.err(set, msg, Some(fix)),
                },
            }
        }
        (Some("work_order"), set) => {
            let a = r.action.as_ref().expect("matched Some");
            if !matches!(
                subject,
                SubjectType::Bed | SubjectType::Pump | SubjectType::Asset
            ) {
                c.err(
                    a,
                    "a work order is opened on equipment",
                    Some("use subject = \"asset\", \"pump\" or \"bed\"".into()),
                );
            }
            if let Some(set) = set {
                c.err(set, "`set` belongs to a bed command or suggestion", None);
            }
            action = Action::WorkOrder;
        }
        (Some(other), _) => c.err(
            r.action.as_ref().expect("matched Some"),
            format!("unknown action `{other}`"),
            Some("`alert`, `bed_command`, `bed_suggestion` or `work_order`".into()),
        ),
    }
    let message = c.template(&r.message, subject);
    if let Some(p) = &r.paused_because {
        if r.unless.is_none() {
            c.err(
                p,
                "`paused_because` without `unless`",
                Some("add the `unless` condition it explains, or remove `paused_because`".into()),
            );
        } else if p.get_ref().trim().is_empty() {
            c.err(
                p,
                "`paused_because` is empty",
                Some("say in words why the rule waits, e.g. \"a caregiver is in the room\"".into()),
            );
        }
    }
    match (c.errors.is_empty(), when, unless) {
        (true, Some(when), unless) => {
            let unless = match unless {
                None => None,
                Some(Some(u)) => Some(u),
                Some(None) => return Err(c.errors),
            };
            let applies = match applies {
                None => None,
                Some(Some(a)) => Some(a),
                Some(None) => return Err(c.errors),
            };
            let mut groups: BTreeSet<&'static str> = when.groups.iter().copied().collect();
            if let Some(u) = &unless {
                groups.extend(u.groups.iter().copied());
            }
            if let Some(a) = &applies {
                groups.extend(a.groups.iter().copied());
            }
            Ok(Rule {
                groups: groups.into_iter().collect(),
                id,
                title: r.title,
                defined_at: format!("{}:{line}", src.file),
                subject,
                when,
                unless,
                paused_because: r.paused_because.map(|p| p.into_inner()),
                hold_ms,
                clear_for_ms,
                priority,
                kind,
                notify,
                escalate,
                remind_every_ms,
                resolve,
                message,
                enabled: r.enabled,
                bundle: r.bundle.map(|b| b.into_inner()),
                applies,
                action,
            })
        }
        _ => Err(c.errors),
    }
}

/// The settings a rule may ask for, checked with their values: for a command only those that
/// move nothing; for a suggestion (`motion`) only those that move the bed.
fn bed_settings(
    set: &BTreeMap<String, toml::Value>,
    motion: bool,
) -> Result<BTreeMap<String, String>, (String, String)> {
    if set.is_empty() {
        return Err((
            "`set` is empty".into(),
            if motion {
                "set = { hob_deg = 30 }".into()
            } else {
                "set = { exit_alarm = \"armed\" }".into()
            },
        ));
    }
    let mut out = BTreeMap::new();
    for (k, v) in set {
        let text = match v {
            toml::Value::String(s) => s.clone(),
            toml::Value::Boolean(b) => b.to_string(),
            other => other.to_string(),
        };
        let allowed: &[&str] = match (k.as_str(), motion) {
            ("exit_alarm", false) => &["off", "armed"],
            ("brakes", false) => &["true", "false"],
            ("surface", false) => schema::SURFACE,
            ("height", true) => schema::HEIGHT,
            ("hob_deg", true) => {
                // Head of bed: 0 (flat) to 75 degrees, a whole number.
                match text.parse::<u32>() {
                    Ok(d) if d <= 75 => {
                        out.insert(k.clone(), d.to_string());
                        continue;
                    }
                    _ => {
                        return Err((
                            format!("`hob_deg` cannot be set to {text}"),
                            "whole degrees from 0 to 75, such as hob_deg = 30".into(),
                        ));
                    }
                }
            }
            ("height" | "hob_deg", false) => {
                return Err((
                    format!("`{k}` moves the bed: a rule never commands it"),
                    "use action = \"bed_suggestion\": a nurse at the bedside confirms it".into(),
                ));
            }
            ("exit_alarm" | "brakes" | "surface", true) => {
                return Err((
                    format!("`{k}` moves nothing: it is a command, not a suggestion"),
                    "use action = \"bed_command\"".into(),
                ));
            }
            _ => {
                return Err((
                    format!("`{k}` is not a bed setting a rule may ask for"),
                    if motion {
                        "hob_deg or height".into()
                    } else {
                        "exit_alarm, brakes or surface".into()
                    },
                ));
            }
        };
        if !allowed.contains(&text.as_str()) {
            return Err((
                format!("`{k}` cannot be set to {text}"),
                format!("one of: {}", allowed.join(", ")),
            ));
        }
        out.insert(k.clone(), text);
    }
    Ok(out)
}

/// A timestamp plus a duration, saturating.
pub fn after(t: Timestamp, ms: i64) -> Timestamp {
    Timestamp(t.millis().saturating_add(ms))
}
