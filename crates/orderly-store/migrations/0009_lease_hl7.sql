-- Where the site's owner listens for HL7 (empty: it has none), so a standby can pass an
-- interface engine's connection through to it.
ALTER TABLE site_lease ADD COLUMN hl7 TEXT NOT NULL DEFAULT '';
