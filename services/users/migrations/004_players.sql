-- What players keep on the server for their user: ratings (Subsonic setRating), the play
-- queue (savePlayQueue, carried from one player to another) and what each player is playing
-- now (reportPlayback, stream), which every gateway reads.

-- Catalog ids, checked with the catalog by the service before they are written.
CREATE TABLE ratings (
  user_id  text        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  kind     text        NOT NULL CHECK (kind IN ('song', 'album', 'artist')),
  item_id  text        NOT NULL,
  rating   smallint    NOT NULL CHECK (rating BETWEEN 1 AND 5),
  rated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (user_id, kind, item_id)
);

CREATE TABLE play_queues (
  user_id       text        PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
  track_ids     text[]      NOT NULL,
  current_index integer     NOT NULL CHECK (current_index >= 0),
  position_ms   integer     NOT NULL CHECK (position_ms >= 0),
  changed_at    timestamptz NOT NULL DEFAULT now(),
  changed_by    text        NOT NULL
);

-- One row per (user, player). A row lives until `expires_at` (the end of the track for a
-- playing one, a few minutes for a paused one); a stopped row stays hidden for a while so a
-- repeated stop report does not count the play twice. Rows long expired are deleted.
CREATE TABLE now_playing (
  user_id       text        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  client        text        NOT NULL,
  player_id     bigserial   NOT NULL UNIQUE,
  track_id      text        NOT NULL,
  duration_ms   integer     NOT NULL CHECK (duration_ms >= 0),
  state         text        NOT NULL CHECK (state IN ('starting', 'playing', 'paused', 'stopped')),
  position_ms   integer     NOT NULL CHECK (position_ms >= 0),
  playback_rate real        NOT NULL CHECK (playback_rate >= 0),
  -- false when inferred from a stream starting rather than reported by the player.
  reported      boolean     NOT NULL,
  started_at    timestamptz NOT NULL,
  updated_at    timestamptz NOT NULL,
  expires_at    timestamptz NOT NULL,
  PRIMARY KEY (user_id, client)
);
CREATE INDEX now_playing_live ON now_playing (expires_at);
