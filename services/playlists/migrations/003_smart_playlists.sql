-- Smart playlists: a playlist with rules has no stored entries; its tracks are what the rules
-- pick when it is read (services/playlists/smart.ts).
ALTER TABLE playlists ADD COLUMN rules jsonb;

-- The `listening` projection of the event log: each user's plays and last play per track,
-- which the rules of their smart playlists read (the play log itself is the history service's).
CREATE TABLE listening (
  user_id        text        NOT NULL,
  track_id       text        NOT NULL,
  plays          integer     NOT NULL,
  last_played_at timestamptz NOT NULL,
  PRIMARY KEY (user_id, track_id)
);
CREATE INDEX listening_recent ON listening (user_id, last_played_at DESC);
