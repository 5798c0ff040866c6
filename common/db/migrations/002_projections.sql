-- Projections (common/projections/): how far each has applied the event log, committed in the
-- same transaction as its effects, so a restart or a replay applies every event exactly once.
CREATE TABLE IF NOT EXISTS projection_offsets (
  projection  text        PRIMARY KEY,
  -- Offset in the event log of the last event applied (or skipped); -1 before the first.
  last_offset bigint      NOT NULL,
  -- Events applied so far (skipped and rejected ones not counted).
  applied     bigint      NOT NULL DEFAULT 0,
  updated_at  timestamptz NOT NULL DEFAULT now()
);

-- Events of the log a projection could never apply (undecodable, or refused for good), with
-- the reason. The event itself stays in the log at its offset.
CREATE TABLE IF NOT EXISTS projection_rejects (
  projection  text        NOT NULL,
  log_offset  bigint      NOT NULL,
  event_id    text,
  type        text,
  reason      text        NOT NULL,
  rejected_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (projection, log_offset)
);

-- Event ids a projection has applied, by when they happened: the same event can be in the log
-- twice (a client retrying a play it was never told was taken, days later), and must count
-- once. Ids older than the longest such delay are forgotten, so the table stays bounded.
CREATE TABLE IF NOT EXISTS projection_seen (
  projection  text        NOT NULL,
  event_id    uuid        NOT NULL,
  occurred_at timestamptz NOT NULL,
  PRIMARY KEY (projection, event_id)
);
CREATE INDEX IF NOT EXISTS projection_seen_age ON projection_seen (projection, occurred_at);
