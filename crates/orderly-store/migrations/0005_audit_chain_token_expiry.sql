-- The audit log as a hash chain: each record carries its number and the hash of the one before,
-- so a record changed or deleted afterwards is found by `orderly audit verify`. Records
-- written before this migration have no number and are outside the chain.
ALTER TABLE audit ADD COLUMN seq BIGINT;
ALTER TABLE audit ADD COLUMN prev_hash TEXT;
ALTER TABLE audit ADD COLUMN hash TEXT;
CREATE UNIQUE INDEX audit_seq ON audit (seq);

-- API tokens expire (NULL: a token made before expiry existed, or made with --expires never).
ALTER TABLE tokens ADD COLUMN expires_ms BIGINT;
