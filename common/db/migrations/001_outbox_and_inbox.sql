-- Transactional outbox: events written in the same transaction as the change that caused
-- them, published by the relay, then marked sent.
CREATE TABLE IF NOT EXISTS outbox (
  id           bigserial PRIMARY KEY,
  event_id     uuid        NOT NULL UNIQUE,
  type         text        NOT NULL,
  envelope     jsonb       NOT NULL,
  trace_id     text,
  created_at   timestamptz NOT NULL DEFAULT now(),
  published_at timestamptz
);
CREATE INDEX IF NOT EXISTS outbox_pending ON outbox (id) WHERE published_at IS NULL;

-- Idempotent consumers: ids of events whose effects are committed, recorded in the same
-- transaction as those effects.
CREATE TABLE IF NOT EXISTS processed_events (
  event_id     uuid        NOT NULL,
  consumer     text        NOT NULL,
  processed_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (consumer, event_id)
);
