//! HL7 v2 for the census (issue 19): MLLP framing ([`mllp`]), messages parsed with the
//! encoding characters each one declares in MSH ([`message`]), ADT and ORU messages read into
//! typed events ([`census`]), and the acknowledgements an interface engine expects ([`ack`]).
//! Core: no IO, no clock, no panics on input; the listener that does the IO is an edge crate.

pub mod ack;
pub mod acm;
pub mod census;
pub mod message;
pub mod mllp;

pub use ack::{AckCode, Problem, ack};
pub use census::{
    CensusMessage, Header, Location, Observation, Patient, PatientId, Visit, read, time_millis,
    time_of,
};
pub use message::{Message, ParseError};
