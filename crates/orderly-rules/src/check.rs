//! A static check of a CEL condition against the fact schema: unknown facts, unknown
//! functions, type errors and misspelt enum values are found when the file is loaded, with the
//! position in the expression, not when a patient gets out of bed.
//!
//! The `cel` crate parses and evaluates; it has no type checker, so this walks its AST with
//! the types of the facts. What it cannot type (map literals, say) is `Dyn` and passes.

use crate::schema::{self, FactType, SubjectType};
use cel::IdedExpr;
use cel::common::ast::{CallExpr, Expr, LiteralValue, operators as op};
use std::collections::BTreeMap;

/// A problem in an expression: where (byte offset in the expression), what, and the fix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    pub offset: usize,
    pub message: String,
    pub fix: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
enum Ty {
    Bool,
    Int,
    UInt,
    Double,
    Str(Option<&'static [&'static str]>),
    List(Box<Ty>),
    Group(&'static str),
    Null,
    Dyn,
}

impl Ty {
    fn from_fact(t: FactType) -> Ty {
        match t {
            FactType::Bool => Ty::Bool,
            FactType::Int => Ty::Int,
            FactType::Double => Ty::Double,
            FactType::String => Ty::Str(None),
            FactType::Enum(v) => Ty::Str(Some(v)),
            FactType::StringList => Ty::List(Box::new(Ty::Str(None))),
        }
    }
    fn name(&self) -> String {
        match self {
            Ty::Bool => "bool".into(),
            Ty::Int => "int".into(),
            Ty::UInt => "uint".into(),
            Ty::Double => "double".into(),
            Ty::Str(_) => "string".into(),
            Ty::List(t) => format!("list({})", t.name()),
            Ty::Group(g) => format!("the fact group `{g}`"),
            Ty::Null => "null".into(),
            Ty::Dyn => "dyn".into(),
        }
    }
    fn numeric(&self) -> bool {
        matches!(self, Ty::Int | Ty::UInt | Ty::Double | Ty::Dyn)
    }
    fn is_dyn(&self) -> bool {
        matches!(self, Ty::Dyn)
    }
    /// Whether values of the two types can be compared with `==`.
    fn comparable(&self, other: &Ty) -> bool {
        match (self, other) {
            (Ty::Dyn, _) | (_, Ty::Dyn) | (Ty::Null, _) | (_, Ty::Null) => true,
            (a, b) if a.numeric() && b.numeric() => true,
            (Ty::Str(_), Ty::Str(_)) | (Ty::Bool, Ty::Bool) => true,
            (Ty::List(a), Ty::List(b)) => a.comparable(b),
            _ => false,
        }
    }
}

/// Functions a rule may call (CEL's standard library, minus what needs regex or time zones).
const FUNCTIONS: &[&str] = &[
    "size",
    "contains",
    "startsWith",
    "endsWith",
    "int",
    "uint",
    "double",
    "string",
    "bool",
    "max",
    "min",
];

struct Checker<'a> {
    subject: SubjectType,
    info: &'a cel::common::ast::SourceInfo,
    scopes: Vec<BTreeMap<String, Ty>>,
    problems: Vec<Problem>,
    /// Fact groups the expression reads.
    groups: Vec<&'static str>,
    /// Facts the expression reads, as `(group, fact)`.
    facts: Vec<(&'static str, &'static str)>,
}

/// What a checked condition reads, found in its AST (never in its text).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Reads {
    /// Fact groups it reads, sorted.
    pub groups: Vec<&'static str>,
    /// Facts it reads, `(group, fact)`, sorted.
    pub facts: Vec<(&'static str, &'static str)>,
    /// Boolean facts the condition cannot hold without: the terms `g.f` (true) and `!g.f`
    /// (false) of its top-level conjunction.
    pub requires: Vec<((&'static str, &'static str), bool)>,
}

/// Checks `program` as a condition on `subject`: returns what it reads, or the problems.
pub fn check_condition(
    program: &cel::Program,
    subject: SubjectType,
) -> Result<Reads, Vec<Problem>> {
    let mut c = Checker {
        subject,
        info: program.source_info(),
        scopes: Vec::new(),
        problems: Vec::new(),
        groups: Vec::new(),
        facts: Vec::new(),
    };
    let root = program.expression();
    let t = c.expr(root);
    if !matches!(t, Ty::Bool | Ty::Dyn) && c.problems.is_empty() {
        c.problem(
            root,
            format!("a condition must be true or false, this is a {}", t.name()),
            Some("compare it with something, e.g. `bed.hob_deg < 30.0`".into()),
        );
    }
    if c.problems.is_empty() {
        c.groups.sort_unstable();
        c.groups.dedup();
        c.facts.sort_unstable();
        c.facts.dedup();
        let mut requires = Vec::new();
        conjuncts(root, &mut requires, &c.facts);
        Ok(Reads {
            groups: c.groups,
            facts: c.facts,
            requires,
        })
    } else {
        Err(c.problems)
    }
}

/// The terms `g.f` and `!g.f` of a top-level `&&` chain, for facts the checker found.
fn conjuncts(
    e: &IdedExpr,
    out: &mut Vec<((&'static str, &'static str), bool)>,
    known: &[(&'static str, &'static str)],
) {
    let fact = |e: &IdedExpr| -> Option<(&'static str, &'static str)> {
        let Expr::Select(sel) = &e.expr else {
            return None;
        };
        let Expr::Ident(g) = &sel.operand.expr else {
            return None;
        };
        if sel.test {
            return None;
        }
        known
            .iter()
            .copied()
            .find(|(kg, kf)| *kg == g.as_str() && *kf == sel.field.as_str())
    };
    match &e.expr {
        Expr::Call(call) if call.func_name == op::LOGICAL_AND && call.args.len() == 2 => {
            conjuncts(&call.args[0], out, known);
            conjuncts(&call.args[1], out, known);
        }
        Expr::Call(call) if call.func_name == op::LOGICAL_NOT && call.args.len() == 1 => {
            if let Some(f) = fact(&call.args[0]) {
                out.push((f, false));
            }
        }
        _ => {
            if let Some(f) = fact(e) {
                out.push((f, true));
            }
        }
    }
}

impl Checker<'_> {
    fn offset(&self, e: &IdedExpr) -> usize {
        self.info.offset_for(e.id).map_or(0, |(s, _)| s as usize)
    }

    fn problem(&mut self, at: &IdedExpr, message: String, fix: Option<String>) {
        let offset = self.offset(at);
        self.problems.push(Problem {
            offset,
            message,
            fix,
        });
    }

    fn lookup(&self, name: &str) -> Option<Ty> {
        self.scopes.iter().rev().find_map(|s| s.get(name).cloned())
    }

    /// `e` where a value is wanted: a fact group is not one (only its facts are).
    fn value(&mut self, e: &IdedExpr) -> Ty {
        match self.expr(e) {
            Ty::Group(g) => {
                let names = schema::group(g).unwrap_or_default();
                let example = names.first().map_or("", |d| d.name);
                self.problem(
                    e,
                    format!("`{g}` is a group of facts, not a value"),
                    Some(format!("read one of its facts, e.g. `{g}.{example}`")),
                );
                Ty::Dyn
            }
            t => t,
        }
    }

    fn expr(&mut self, e: &IdedExpr) -> Ty {
        match &e.expr {
            Expr::Unspecified => Ty::Dyn,
            Expr::Literal(l) => match l {
                LiteralValue::Boolean(_) => Ty::Bool,
                LiteralValue::Int(_) => Ty::Int,
                LiteralValue::UInt(_) => Ty::UInt,
                LiteralValue::Double(_) => Ty::Double,
                LiteralValue::String(_) => Ty::Str(None),
                LiteralValue::Bytes(_) => Ty::Dyn,
                LiteralValue::Null => Ty::Null,
            },
            Expr::Ident(name) => {
                if let Some(t) = self.lookup(name) {
                    return t;
                }
                let groups = self.subject.groups();
                if let Some(g) = groups.iter().find(|g| **g == name) {
                    self.groups.push(g);
                    return Ty::Group(g);
                }
                let fix = match schema::suggest(name, groups.iter().copied()) {
                    Some(s) => format!("did you mean `{s}`?"),
                    None => format!(
                        "a {} rule can read: {}",
                        self.subject.as_str(),
                        groups.join(", ")
                    ),
                };
                self.problem(e, format!("unknown fact `{name}`"), Some(fix));
                Ty::Dyn
            }
            Expr::Select(sel) => {
                let operand = self.expr(&sel.operand);
                let t = match operand {
                    Ty::Group(g) => match schema::fact(g, &sel.field) {
                        Some(d) => {
                            self.facts.push((g, d.name));
                            Ty::from_fact(d.ty)
                        }
                        None => {
                            let names = schema::group(g).unwrap_or_default().iter().map(|d| d.name);
                            let fix = match schema::suggest(&sel.field, names.clone()) {
                                Some(s) => format!("did you mean `{g}.{s}`?"),
                                None => {
                                    format!("`{g}` has: {}", names.collect::<Vec<_>>().join(", "))
                                }
                            };
                            self.problem(
                                &sel.operand,
                                format!("unknown fact `{g}.{}`", sel.field),
                                Some(fix),
                            );
                            Ty::Dyn
                        }
                    },
                    Ty::Dyn => Ty::Dyn,
                    other => {
                        self.problem(
                            e,
                            format!(
                                "`.{}` on a {}, which has no fields",
                                sel.field,
                                other.name()
                            ),
                            None,
                        );
                        Ty::Dyn
                    }
                };
                if sel.test { Ty::Bool } else { t }
            }
            Expr::List(l) => {
                let mut elem = None;
                for x in &l.elements {
                    let t = self.value(x);
                    elem.get_or_insert(t);
                }
                Ty::List(Box::new(elem.unwrap_or(Ty::Dyn)))
            }
            Expr::Map(m) => {
                for entry in &m.entries {
                    if let cel::common::ast::EntryExpr::MapEntry(me) = &entry.expr {
                        self.value(&me.key);
                        self.value(&me.value);
                    }
                }
                Ty::Dyn
            }
            Expr::Struct(_) => {
                self.problem(
                    e,
                    "message construction is not available in rules".into(),
                    None,
                );
                Ty::Dyn
            }
            Expr::Comprehension(c) => {
                let range = self.expr(&c.iter_range);
                let elem = match range {
                    Ty::List(t) => *t,
                    Ty::Dyn => Ty::Dyn,
                    other => {
                        self.problem(
                            &c.iter_range,
                            format!("can only iterate over a list, this is a {}", other.name()),
                            None,
                        );
                        Ty::Dyn
                    }
                };
                let accu = self.value(&c.accu_init);
                let mut scope = BTreeMap::new();
                scope.insert(c.iter_var.clone(), elem);
                if let Some(v2) = &c.iter_var2 {
                    scope.insert(v2.clone(), Ty::Dyn);
                }
                scope.insert(c.accu_var.clone(), accu);
                self.scopes.push(scope);
                self.value(&c.loop_cond);
                self.value(&c.loop_step);
                let r = self.value(&c.result);
                self.scopes.pop();
                r
            }
            Expr::Call(call) => self.call(e, call),
        }
    }

    fn want(&mut self, at: &IdedExpr, t: &Ty, ok: fn(&Ty) -> bool, what: &str) {
        if !ok(t) {
            self.problem(at, format!("expected {what}, found a {}", t.name()), None);
        }
    }

    fn call(&mut self, e: &IdedExpr, call: &CallExpr) -> Ty {
        let f = call.func_name.as_str();
        let target = call.target.as_deref().map(|t| (t, self.value(t)));
        // A group is read by its facts only: `bed.hob_deg`, `bed['hob_deg']`, `has(bed.x)`.
        let args: Vec<Ty> = call
            .args
            .iter()
            .enumerate()
            .map(|(i, a)| match (f, i) {
                (op::INDEX, 0) => self.expr(a),
                _ => self.value(a),
            })
            .collect();
        let arg = |i: usize| args.get(i).cloned().unwrap_or(Ty::Dyn);
        let at = |i: usize| call.args.get(i).unwrap_or(e);
        match f {
            op::LOGICAL_AND | op::LOGICAL_OR => {
                for i in 0..args.len() {
                    self.want(
                        at(i),
                        &arg(i),
                        |t| matches!(t, Ty::Bool | Ty::Dyn),
                        "true or false",
                    );
                }
                Ty::Bool
            }
            op::LOGICAL_NOT | op::NOT_STRICTLY_FALSE => {
                self.want(
                    at(0),
                    &arg(0),
                    |t| matches!(t, Ty::Bool | Ty::Dyn),
                    "true or false",
                );
                Ty::Bool
            }
            op::EQUALS | op::NOT_EQUALS => {
                let (a, b) = (arg(0), arg(1));
                if !a.comparable(&b) {
                    self.problem(
                        e,
                        format!("cannot compare a {} with a {}", a.name(), b.name()),
                        Some(fix_for(&a, &b)),
                    );
                }
                self.enum_literal(&a, at(1));
                self.enum_literal(&b, at(0));
                Ty::Bool
            }
            op::LESS | op::LESS_EQUALS | op::GREATER | op::GREATER_EQUALS => {
                let (a, b) = (arg(0), arg(1));
                let ok = (a.numeric() && b.numeric())
                    || matches!((&a, &b), (Ty::Str(_), Ty::Str(_)))
                    || a.is_dyn()
                    || b.is_dyn();
                if !ok {
                    self.problem(
                        e,
                        format!("cannot order a {} and a {}", a.name(), b.name()),
                        Some(fix_for(&a, &b)),
                    );
                }
                Ty::Bool
            }
            op::ADD => match (arg(0), arg(1)) {
                (Ty::Str(_), Ty::Str(_)) => Ty::Str(None),
                (Ty::List(a), Ty::List(_)) => Ty::List(a),
                (a, b) => self.arith(e, a, b),
            },
            op::SUBSTRACT | op::MULTIPLY | op::DIVIDE | op::MODULO => self.arith(e, arg(0), arg(1)),
            op::NEGATE => {
                let a = arg(0);
                self.want(at(0), &a, Ty::numeric, "a number");
                a
            }
            op::CONDITIONAL => {
                self.want(
                    at(0),
                    &arg(0),
                    |t| matches!(t, Ty::Bool | Ty::Dyn),
                    "true or false",
                );
                let (a, b) = (arg(1), arg(2));
                if a == b { a } else { Ty::Dyn }
            }
            op::IN => {
                let (a, b) = (arg(0), arg(1));
                match &b {
                    Ty::List(elem) => {
                        if !a.comparable(elem) {
                            self.problem(
                                e,
                                format!("a {} cannot be in a {}", a.name(), b.name()),
                                None,
                            );
                        }
                        // `bed.exit_alarm in ['armed', 'alarmng']`: check the literals.
                        if let Some(list) = call.args.get(1)
                            && let Expr::List(l) = &list.expr
                        {
                            for x in &l.elements {
                                self.enum_literal(&a, x);
                            }
                        }
                    }
                    Ty::Dyn => {}
                    other => self.problem(
                        at(1),
                        format!("`in` needs a list, found a {}", other.name()),
                        None,
                    ),
                }
                Ty::Bool
            }
            op::INDEX => match arg(0) {
                Ty::List(t) => {
                    self.want(
                        at(1),
                        &arg(1),
                        |t| matches!(t, Ty::Int | Ty::UInt | Ty::Dyn),
                        "an index",
                    );
                    *t
                }
                _ => Ty::Dyn,
            },
            "size" => Ty::Int,
            "contains" | "startsWith" | "endsWith" => {
                if let Some((t, tt)) = &target {
                    self.want(t, tt, |t| matches!(t, Ty::Str(_) | Ty::Dyn), "a string");
                }
                Ty::Bool
            }
            "int" => Ty::Int,
            "uint" => Ty::UInt,
            "double" => Ty::Double,
            "string" => Ty::Str(None),
            "bool" => Ty::Bool,
            "max" | "min" => Ty::Dyn,
            _ => {
                let fix = match schema::suggest(f, FUNCTIONS.iter().copied()) {
                    Some(s) => format!("did you mean `{s}`?"),
                    None => format!(
                        "rules can call: {} (and all, exists, exists_one, map, filter, has)",
                        FUNCTIONS.join(", ")
                    ),
                };
                self.problem(e, format!("unknown function `{f}`"), Some(fix));
                Ty::Dyn
            }
        }
    }

    fn arith(&mut self, e: &IdedExpr, a: Ty, b: Ty) -> Ty {
        if !(a.numeric() && b.numeric()) {
            self.problem(
                e,
                format!("arithmetic on a {} and a {}", a.name(), b.name()),
                None,
            );
            return Ty::Dyn;
        }
        match (a, b) {
            (Ty::Dyn, _) | (_, Ty::Dyn) => Ty::Dyn,
            (Ty::Double, _) | (_, Ty::Double) => Ty::Double,
            (a, _) => a,
        }
    }

    /// A string literal compared with an enum fact must be one of its values.
    fn enum_literal(&mut self, t: &Ty, lit: &IdedExpr) {
        let (Ty::Str(Some(values)), Expr::Literal(LiteralValue::String(s))) = (t, &lit.expr) else {
            return;
        };
        let s: &str = s.inner();
        if !values.contains(&s) {
            let fix = match schema::suggest(s, values.iter().copied()) {
                Some(v) => format!("did you mean '{v}'?"),
                None => format!("one of: {}", values.join(", ")),
            };
            self.problem(
                lit,
                format!("'{s}' is never a value of this fact"),
                Some(fix),
            );
        }
    }
}

fn fix_for(a: &Ty, b: &Ty) -> String {
    match (a, b) {
        (Ty::Str(_), t) | (t, Ty::Str(_)) if t.numeric() => {
            "compare a number with a number (no quotes) or a string with a string".into()
        }
        (Ty::Bool, _) | (_, Ty::Bool) => {
            "use the fact itself, or `!fact`, for true or false".into()
        }
        _ => "compare values of the same type".into(),
    }
}
