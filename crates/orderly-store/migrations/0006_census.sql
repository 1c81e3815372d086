-- The census as it stands: each patient a census event touched since the seed, with their
-- latest state (the seed gives the rest). `status` is `in` (in a bed or outside Orderly's
-- beds) or `out` (discharged, admission cancelled, merged into another record).
CREATE TABLE census (
    patient TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    bed TEXT NOT NULL,
    updated_ms BIGINT NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX census_status ON census (status, updated_ms);
-- HL7 messages applied ({sender}|{control id}), in the transaction of the events they caused:
-- a message resent after a crash between commit and acknowledgement is recognised.
CREATE TABLE hl7_applied (
    message TEXT PRIMARY KEY,
    seq BIGINT NOT NULL,
    at_ms BIGINT NOT NULL
);
CREATE INDEX hl7_applied_at ON hl7_applied (at_ms);
-- HL7 messages Orderly could not apply (answered AE or AR), for the interface analyst.
CREATE TABLE hl7_rejected (
    id TEXT PRIMARY KEY,
    at_ms BIGINT NOT NULL,
    sender TEXT NOT NULL,
    control_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    code TEXT NOT NULL,
    problem TEXT NOT NULL,
    message TEXT NOT NULL
);
CREATE INDEX hl7_rejected_at ON hl7_rejected (at_ms);
