-- Statistics are a projection of the events: each batch of events adds its aggregated deltas
-- to these counters. The play tables (all but `counters`) can be rebuilt from the history
-- service's play log (scripts/stats-rebuild.ts).

-- Plays per track, all time.
CREATE TABLE IF NOT EXISTS track_plays (
  track_id text   PRIMARY KEY,
  plays    bigint NOT NULL
);
CREATE INDEX IF NOT EXISTS track_plays_top ON track_plays (plays DESC, track_id);

-- Plays per track per UTC hour (the hour the play started), for the hour and day windows.
CREATE TABLE IF NOT EXISTS track_hourly (
  hour     timestamptz NOT NULL,
  track_id text        NOT NULL,
  plays    bigint      NOT NULL,
  PRIMARY KEY (hour, track_id)
);

-- Per-user totals; distinct tracks are the user's rows in user_tracks.
CREATE TABLE IF NOT EXISTS user_totals (
  user_id        text        PRIMARY KEY,
  plays          bigint      NOT NULL,
  ms_played      bigint      NOT NULL,
  last_played_at timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS user_totals_last_played ON user_totals (last_played_at);

-- Plays per user per track.
CREATE TABLE IF NOT EXISTS user_tracks (
  user_id  text   NOT NULL,
  track_id text   NOT NULL,
  plays    bigint NOT NULL,
  PRIMARY KEY (user_id, track_id)
);

-- Plays per UTC minute.
CREATE TABLE IF NOT EXISTS minute_plays (
  minute timestamptz PRIMARY KEY,
  plays  bigint      NOT NULL
);

-- Counters of the other events (registered users, playlist changes). They are not derived
-- from plays, so a rebuild keeps them.
CREATE TABLE IF NOT EXISTS counters (
  name  text   PRIMARY KEY,
  value bigint NOT NULL
);
