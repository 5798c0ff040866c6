-- Every play, stored once (event_id is the track.played event's id). This table is also the
-- retained event log that statistics are rebuilt from: `seq` gives it a stable order.
CREATE TABLE IF NOT EXISTS plays (
  seq         bigserial   PRIMARY KEY,
  event_id    uuid        NOT NULL UNIQUE,
  user_id     text        NOT NULL,
  track_id    text        NOT NULL,
  played_at   timestamptz NOT NULL,
  ms_played   integer     NOT NULL CHECK (ms_played >= 0),
  source      text        NOT NULL,
  recorded_at timestamptz NOT NULL DEFAULT now()
);

-- A user's recent plays, newest first.
CREATE INDEX IF NOT EXISTS plays_user_recent ON plays (user_id, played_at DESC, seq DESC);
