//! The facts of one subject, as the world built them: groups of named values (`bed.hob_deg`),
//! plus where an alert about the subject goes (its room and unit).

use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

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
    fn to_cel(&self) -> cel::Value {
        match self {
            Fact::Bool(b) => cel::Value::Bool(*b),
            Fact::Int(i) => cel::Value::Int(*i),
            Fact::Double(d) => cel::Value::Float(*d),
            Fact::String(s) => cel::Value::String(Arc::new(s.clone())),
            Fact::StringList(l) => cel::Value::List(Arc::new(
                l.iter()
                    .map(|s| cel::Value::String(Arc::new(s.clone())))
                    .collect(),
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

/// A group of facts (`bed`, `room`, ...).
pub type Group = BTreeMap<&'static str, Fact>;

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
        self.groups.entry(group).or_default().insert(name, value);
    }

    pub fn get(&self, group: &str, name: &str) -> Option<&Fact> {
        self.groups.get(group)?.get(name)
    }

    /// A CEL context with one map variable per group, for [`crate::Rule::holds_in`].
    pub fn context(&self) -> cel::Context<'static, 'static> {
        let mut ctx = cel::Context::default();
        for (g, facts) in &self.groups {
            let map: HashMap<String, cel::Value> = facts
                .iter()
                .map(|(k, v)| ((*k).to_string(), v.to_cel()))
                .collect();
            ctx.add_variable_from_value(*g, map);
        }
        ctx
    }
}
