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

    /// Whether `other` is this very group (shared), not an equal copy.
    pub fn shares(&self, other: &Group) -> bool {
        std::sync::Arc::ptr_eq(&self.0, &other.0)
    }

    /// Gives back the room a group grew into; a shared group is left as it is.
    pub fn shrink(&mut self) {
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

    /// Readies freshly built facts to be kept in place of `before`: a group with the same facts
    /// as before is `before`'s (shared, so comparing it again is a pointer compare, and the new
    /// copy is freed without being shrunk); any other group gives back the room it grew into.
    pub fn settle(&mut self, before: Option<&Facts>) {
        for (g, group) in self.groups.iter_mut() {
            match before.and_then(|b| b.groups.get(g)) {
                Some(old) if old == group => *group = old.clone(),
                _ => group.shrink(),
            }
        }
    }

    /// A CEL context with one map variable per group, for [`crate::Rule::standing_in`].
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
        // Each group a map of its facts, read lazily: a rule reading `bed.hob_deg` converts
        // that fact alone (building every group's map was a quarter of evaluating rules).
        for (g, group) in self.groups.iter().filter(|(g, _)| wanted(g)) {
            ctx.add_variable_as_val(*g, Box::new(GroupVal::new(group)));
        }
        ctx
    }
}

/// A group as a CEL map. `g.fact`, `g["fact"]` and `has(g.fact)` look the fact up and convert
/// it alone; anything else asked of the map (its size, its keys, membership) is answered by the
/// whole group as a map of CEL values, built the first time it is needed.
#[derive(Debug)]
struct GroupVal<'a> {
    group: &'a Group,
    whole: std::sync::OnceLock<cel::common::types::CelMap<'a>>,
}

impl<'a> GroupVal<'a> {
    fn new(group: &'a Group) -> Self {
        GroupVal {
            group,
            whole: std::sync::OnceLock::new(),
        }
    }

    fn whole(&self) -> &cel::common::types::CelMap<'a> {
        self.whole.get_or_init(|| cel_map(self.group))
    }
}

/// The group as CEL's own map; names and text are borrowed from the facts.
fn cel_map(group: &Group) -> cel::common::types::CelMap<'_> {
    let map: HashMap<cel::common::types::CelMapKey<'_>, Box<dyn Val + '_>> =
        group.iter().map(|(k, v)| (k.into(), v.to_val())).collect();
    cel::common::types::CelMap::from(map)
}

impl Val for GroupVal<'_> {
    fn get_type(&self) -> &cel::common::types::Type {
        <Self as Val>::cel_type()
    }

    fn cel_type() -> &'static cel::common::types::Type {
        &cel::common::types::MAP_TYPE
    }

    fn as_container(&self) -> Option<&dyn cel::common::traits::Container> {
        self.whole().as_container()
    }

    fn as_indexer<'b, 'v>(&'b self) -> Option<&'b (dyn cel::common::traits::Indexer + 'v)>
    where
        Self: 'v,
    {
        Some(self)
    }

    fn as_iterable<'b, 'v>(&'b self) -> Option<&'b (dyn cel::common::traits::Iterable + 'v)>
    where
        Self: 'v,
    {
        self.whole().as_iterable()
    }

    fn as_sizer(&self) -> Option<&dyn cel::common::traits::Sizer> {
        self.whole().as_sizer()
    }

    fn as_zeroer(&self) -> Option<&dyn cel::common::traits::Zeroer> {
        self.whole().as_zeroer()
    }

    fn equals(&self, other: &dyn Val) -> bool {
        match other.as_builtin() {
            cel::common::value::BuiltinRef::Map(m) => self.whole().equals(m),
            _ => false,
        }
    }
    // No `as_builtin`: CEL asks it of every operand of `.` (is it an optional?), and answering
    // with the whole map would build it at every field read. So a group is not CEL's own map
    // where one is required (as a whole result, on the right of `==`): rules never use it so,
    // the rule check refuses a group anywhere but before `.fact`, `["fact"]` or in `has()`.

    fn clone_as_boxed<'v>(&self) -> Box<dyn Val + 'v>
    where
        Self: 'v,
    {
        Box::new(GroupVal::new(self.group))
    }
}

impl cel::common::traits::Indexer for GroupVal<'_> {
    fn get<'b, 'v>(
        &'b self,
        idx: &dyn Val,
    ) -> Result<cel::common::value::CowVal<'b, 'v>, cel::ExecutionError>
    where
        Self: 'v,
    {
        match idx.downcast_ref::<cel::common::types::CelString>() {
            Some(name) => match self.group.get(name.inner()) {
                Some(fact) => Ok(cel::common::value::CowVal::Owned(fact.to_val())),
                None => Err(cel::ExecutionError::NoSuchKey(std::sync::Arc::new(
                    name.inner().to_string(),
                ))),
            },
            // Not a fact's name: as the map answers (numeric keys, wrong key types).
            None => self.whole().get(idx),
        }
    }

    fn steal<'v>(self: Box<Self>, idx: &dyn Val) -> Result<Box<dyn Val + 'v>, cel::ExecutionError>
    where
        Self: 'v,
    {
        self.get(idx).map(cel::common::value::CowVal::into_owned)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every group built whole as CEL's own map, as contexts were built before [`GroupVal`].
    fn eager_context(facts: &Facts) -> cel::Context<'_, '_> {
        let mut ctx = cel::Context::with_env(std::sync::Arc::new(cel::Env::stdlib()));
        for (g, group) in &facts.groups {
            ctx.add_variable_as_val(*g, Box::new(cel_map(group)));
        }
        ctx
    }

    #[test]
    fn a_group_read_lazily_answers_every_expression_as_the_whole_map_did() {
        let mut facts = Facts::default();
        facts.set("bed", "exit_alarm", Fact::String("armed".into()));
        facts.set("bed", "hob_deg", Fact::Double(31.5));
        facts.set("bed", "rails_up", Fact::Int(2));
        facts.set("bed", "occupied", Fact::Bool(true));
        facts.set("room", "known", Fact::Bool(true));
        facts.set("room", "kind", Fact::String("patient_room".into()));
        facts.set(
            "room",
            "roles_present",
            Fact::StringList(vec!["nurse".into(), "aide".into()]),
        );
        facts.set("room", "name", Fact::String(String::new()));
        // Every expression the rule check lets through gives what the whole map gave: fields,
        // indexing, presence, facts missing from the subject, wrong keys, and a group used as
        // a value, which the check refuses (`refused`: so the evaluator need not agree there).
        let exprs: &[(&str, bool)] = &[
            ("bed.exit_alarm == 'armed'", false),
            ("bed.hob_deg < 30.0 || bed.rails_up >= 2", false),
            ("bed.occupied && room.known", false),
            ("bed['hob_deg'] > 30.0", false),
            ("'aide' in room.roles_present", false),
            ("room.roles_present.exists(r, r == 'nurse')", false),
            ("size(room.roles_present) == 2", false),
            ("has(bed.hob_deg)", false),
            ("has(bed.brakes)", false),
            ("bed.brakes", false),
            ("bed['brakes']", false),
            ("bed[1] == 2", false),
            ("bed[1.5] == 2", false),
            ("bed[true] == 2", false),
            ("room.name == ''", false),
            ("room.name.startsWith('x') || bed.rails_up == 2", false),
            ("bed.hob_deg.brakes", true),
            ("size(bed) > 1", true),
            ("'hob_deg' in bed", true),
            ("bed == bed", true),
            ("bed != room", true),
            ("room == {'known': true}", true),
            ("{'known': true} == room", true),
            ("bed == null", true),
            ("bed.all(k, k != '')", true),
            ("[bed][0].occupied", true),
            ("(bed.occupied ? bed : room).hob_deg > 1.0", true),
            ("bed", true),
        ];
        let lazy = facts.context();
        let eager = eager_context(&facts);
        for (e, refused) in exprs {
            let p = cel::Program::compile(e).unwrap();
            let checked = crate::check::check_condition(&p, crate::SubjectType::Bed);
            assert_eq!(checked.is_err(), *refused, "{e}: {checked:?}");
            if *refused {
                continue;
            }
            match (p.execute(&lazy), p.execute(&eager)) {
                (Ok(a), Ok(b)) => assert_eq!(a, b, "{e}"),
                (a, b) => assert_eq!(format!("{a:?}"), format!("{b:?}"), "{e}"),
            }
        }
    }

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
