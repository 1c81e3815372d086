-- Reports read a few kinds of event over a window (utilisation: status changes, tags lost and
-- found) without scanning every location change.
CREATE INDEX events_kind_at ON events (kind, at_ms);
