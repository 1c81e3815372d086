//! End-to-end tests: the real binary, a real broker, a real database; MQTT in, HTTP out.
//! One test binary (like ripgrep's) with a module per capability.

mod acm;
mod beds;
mod census;
mod demo;
mod environment;
mod failover;
mod files;
mod infusion;
mod ingest;
mod maintenance;
mod pages;
mod regression;
mod replay;
mod rules;
mod security;
mod vitals;
mod webhooks;
mod writes;
