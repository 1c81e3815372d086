//! The one way out: every decision becomes an [`OutEvent`] with the next sequence number.

use crate::Capability;
use bevy_ecs::prelude::*;
use orderly_model::{EventKind, OutEvent, Timestamp};

/// Events emitted during the current step, drained by [`crate::Hospital::step`].
#[derive(Resource, Default, Debug)]
pub struct Outbox {
    pub next_seq: u64,
    pub events: Vec<OutEvent>,
}

impl Outbox {
    pub fn push(&mut self, at: Timestamp, kind: EventKind) {
        self.next_seq += 1;
        self.events.push(OutEvent {
            seq: self.next_seq,
            at,
            kind,
        });
    }
    /// The sequence number of the last event pushed.
    pub fn last_seq(&self) -> u64 {
        self.next_seq
    }
}

/// Adds the outbox. Systems push to it with `ResMut<Outbox>` and the [`Clock`](crate::Clock)'s time.
pub struct OutboxPlugin;

impl Capability for OutboxPlugin {
    fn name(&self) -> &'static str {
        "outbox"
    }
    fn build(&self, world: &mut World, _schedule: &mut Schedule, _: &crate::WorldConfig) {
        world.init_resource::<Outbox>();
    }
    /// Event numbers continue where they stopped.
    fn restore(&self, world: &mut World, restored: &orderly_model::Restored) {
        let mut o = world.resource_mut::<Outbox>();
        o.next_seq = o.next_seq.max(restored.next_seq);
    }
}
