//! The facts of one subject, as the world built them: groups of named values (`bed.hob_deg`),
//! plus where an alert about the subject goes (its room and unit).

use cel::common::value::Val;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

/// One fact's value.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Fact {
    Bool(bool),
    Int(i64),
    Double(f64),
    String(String),
    StringList(Vec<String>),
}

impl Fact {
    /// As a CEL value borrowing the fact's text (no copy).
    fn to_val(&self) -> Box<dyn Val + '_> {
        use cel::common::types::{CelBool, CelDouble, CelInt, CelList, CelString};
        match self {
            Fact::Bool(b) => Box::new(CelBool::from(*b)),
            Fact::Int(i) => Box::new(CelInt::from(*i)),
            Fact::Double(d) => Box::new(CelDouble::from(*d)),
            Fact::String(s) => Box::new(CelString::from(s.as_str())),
            Fact::StringList(l) => Box::new(CelList::from(
                l.iter()
                    .map(|s| Box::new(CelString::from(s.as_str())) as Box<dyn Val + '_>)
                    .collect::<Vec<_>>(),
            )),
        }
    }

    /// As text in a message template.
    pub fn render(&self) -> String {
        match self {
            Fact::Bool(b) => b.to_string(),
            Fact::Int(i) => i.to_string(),
            Fact::Double(d) => {
                if d.fract() == 0.0 {
                    format!("{d:.0}")
                } else {
                    format!("{d:.1}")
                }
            }
            Fact::String(s) => s.clone(),
            Fact::StringList(l) => l.join(", "),
        }
    }
}

/// A group of facts (`bed`, `room`, ...), by name. A few dozen at most, kept sorted in one
/// vector: a tree spent a node of eleven entries on every few facts, and 25,000 tagged
/// pumps' facts took over 200 MiB. Shared until written: a group many subjects have alike (an
/// idle pump's `infusion`) is one allocation, however many subjects hold it (27 MiB at 25,000
/// idle pumps when each had its own copy).
#[derive(Clone, Debug, Default)]
pub struct Group(std::sync::Arc<Vec<(&'static str, Fact)>>);

impl PartialEq for Group {
    fn eq(&self, other: &Group) -> bool {
        std::sync::Arc::ptr_eq(&self.0, &other.0) || self.0 == other.0
    }
}

impl Group {
    fn with_capacity(n: usize) -> Group {
        Group(std::sync::Arc::new(Vec::with_capacity(n)))
    }

    /// Where `name` is, or where it would go.
    fn find(&self, name: &str) -> Result<usize, usize> {
        self.0.binary_search_by(|(k, _)| (*k).cmp(name))
    }

    pub fn get(&self, name: &str) -> Option<&Fact> {
        self.find(name).ok().map(|i| &self.0[i].1)
    }

    /// Sets `name`; returns what it was. A group shared with another subject is copied first
    /// (unless the value is already there).
    pub fn insert(&mut self, name: &'static str, value: Fact) -> Option<Fact> {
        match self.find(name) {
            Ok(i) if self.0[i].1 == value => Some(value),
            Ok(i) => Some(std::mem::replace(
                &mut std::sync::Arc::make_mut(&mut self.0)[i].1,
                value,
            )),
            Err(i) => {
                std::sync::Arc::make_mut(&mut self.0).insert(i, (name, value));
                None
            }
        }
    }

    pub fn remove(&mut self, name: &str) -> Option<Fact> {
        let i = self.find(name).ok()?;
        Some(std::sync::Arc::make_mut(&mut self.0).remove(i).1)
    }

    /// The facts, by name.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, &Fact)> {
        self.0.iter().map(|(k, v)| (*k, v))
    }

    /// The facts' names, in order.
    pub fn keys(&self) -> impl Iterator<Item = &&'static str> {
        self.0.iter().map(|(k, _)| k)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Gives back the room a group grew into; a shared group is left as it is.
    fn shrink(&mut self) {
        if let Some(v) = std::sync::Arc::get_mut(&mut self.0) {
            v.shrink_to_fit();
        }
    }
}

impl Serialize for Group {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.iter())
    }
}

/// How a subject's facts changed in a rebuild ([`Facts::delta`]).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FactDelta {
    /// An alert about the subject would be placed differently: its room, unit or data time.
    pub placed: bool,
    /// The groups whose facts differ.
    pub groups: Vec<&'static str>,
}

impl FactDelta {
    /// Both changes at once (two rebuilds in one step).
    pub fn merge(&mut self, other: FactDelta) {
        self.placed |= other.placed;
        for g in other.groups {
            if !self.groups.contains(&g) {
                self.groups.push(g);
            }
        }
    }
}

/// Everything a rule can read about one subject.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Facts {
    pub groups: BTreeMap<&'static str, Group>,
    /// Groups whose device has not reported since start: rules that read them wait.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unreported: Vec<&'static str>,
    /// Room id and unit an alert about this subject is routed to.
    #[serde(skip)]
    pub room: Option<String>,
    #[serde(skip)]
    pub unit: Option<String>,
    /// When the device sent the data these facts come from, if it arrived late (see
    /// `Alert::data_at`).
    #[serde(skip)]
    pub data_at: Option<orderly_model::Timestamp>,
}

impl Facts {
    pub fn set(&mut self, group: &'static str, name: &'static str, value: Fact) {
        // Room for a group's usual size at once (the largest has about 25): growing one fact at
        // a time reallocated each group four times, 5% of a step placing thousands of tags.
        // `shrink` gives back what is left over.
        self.groups
            .entry(group)
            .or_insert_with(|| Group::with_capacity(32))
            .insert(name, value);
    }

    pub fn get(&self, group: &str, name: &str) -> Option<&Fact> {
        self.groups.get(group)?.get(name)
    }

    /// Gives the groups back the room they grew into (facts are kept until their next rebuild).
    pub fn shrink(&mut self) {
        self.groups.values_mut().for_each(Group::shrink);
    }

    /// A CEL context with one map variable per group, for [`crate::Rule::holds_in`].
    pub fn context(&self) -> cel::Context<'_, '_> {
        self.context_of(|_| true)
    }

    /// What changed from `before` to `self`: `None` when which groups wait for their device
    /// changed (every rule is evaluated again), else the groups whose facts differ and whether
    /// an alert about the subject would be placed differently (its room, unit or data time).
    pub fn delta(&self, before: &Facts) -> Option<FactDelta> {
        if self.unreported != before.unreported {
            return None;
        }
        let mut groups: Vec<&'static str> = self
            .groups
            .iter()
            .filter(|(g, facts)| before.groups.get(*g) != Some(*facts))
            .map(|(g, _)| *g)
            .collect();
        groups.extend(
            before
                .groups
                .keys()
                .filter(|g| !self.groups.contains_key(*g)),
        );
        Some(FactDelta {
            placed: self.room != before.room
                || self.unit != before.unit
                || self.data_at != before.data_at,
            groups,
        })
    }

    /// A CEL context with the groups `wanted` says yes to (every group a rule reads must be
    /// among them, or the rule fails on an undeclared variable).
    pub fn context_of(&self, wanted: impl Fn(&str) -> bool) -> cel::Context<'_, '_> {
        // The standard library's declarations are built once and shared: building them per
        // context was most of an evaluation's cost (a step placing 25,000 tags spent half its
        // time there).
        static STDLIB: std::sync::LazyLock<std::sync::Arc<cel::Env>> =
            std::sync::LazyLock::new(|| std::sync::Arc::new(cel::Env::stdlib()));
        let mut ctx = cel::Context::with_env(STDLIB.clone());
        // Each group a map of its facts, built as CEL's own values: names and text are
        // borrowed from the facts, nothing is copied.
        for (g, facts) in self.groups.iter().filter(|(g, _)| wanted(g)) {
            let map: HashMap<cel::common::types::CelMapKey<'_>, Box<dyn Val + '_>> = facts
                .iter()
                .map(|(k, v)| ((*k).into(), v.to_val()))
                .collect();
            ctx.add_variable_as_val(*g, Box::new(cel::common::types::CelMap::from(map)));
        }
        ctx
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_group_held_alike_by_many_subjects_is_one_allocation_until_one_changes_it() {
        let mut idle = Group::default();
        idle.insert("running", Fact::Bool(false));
        idle.insert("drug", Fact::String(String::new()));
        let mut a = idle.clone();
        let b = idle.clone();
        assert!(std::sync::Arc::ptr_eq(&a.0, &b.0), "clones share");
        // Setting what is already there keeps it shared.
        assert_eq!(
            a.insert("running", Fact::Bool(false)),
            Some(Fact::Bool(false))
        );
        assert!(std::sync::Arc::ptr_eq(&a.0, &b.0));
        // A change copies, and the others keep what they had.
        assert_eq!(
            a.insert("running", Fact::Bool(true)),
            Some(Fact::Bool(false))
        );
        assert!(!std::sync::Arc::ptr_eq(&a.0, &b.0));
        assert_eq!(a.get("running"), Some(&Fact::Bool(true)));
        assert_eq!(b.get("running"), Some(&Fact::Bool(false)));
        assert_eq!(idle, b);
        assert_ne!(a, b);
        a.remove("drug");
        assert_eq!(b.get("drug"), Some(&Fact::String(String::new())));
        assert_eq!(a.get("drug"), None);
    }
}
