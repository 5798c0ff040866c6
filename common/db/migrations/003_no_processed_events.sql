-- Consumers record what they processed in the effect itself (history: the play keyed by its
-- event id) and projections in their offset and projection_seen: the ledger is not used.
DROP TABLE IF EXISTS processed_events;
