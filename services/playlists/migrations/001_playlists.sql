CREATE TABLE playlists (
  id          text PRIMARY KEY,
  owner_id    text        NOT NULL,
  -- Copied from the caller at creation, so listing needs no call to the users service.
  owner_name  text        NOT NULL,
  name        text        NOT NULL,
  public      boolean     NOT NULL DEFAULT false,
  -- Kept equal to the entries' count and summed durations by every change.
  track_count integer     NOT NULL DEFAULT 0,
  duration_ms bigint      NOT NULL DEFAULT 0,
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX playlists_owner ON playlists (owner_id, created_at);

CREATE TABLE playlist_tracks (
  playlist_id text    NOT NULL REFERENCES playlists (id) ON DELETE CASCADE,
  -- 0-based and contiguous. Deferrable so that shifting a range of positions in one UPDATE
  -- is checked at the end of the statement rather than row by row.
  position    integer NOT NULL CHECK (position >= 0),
  track_id    text    NOT NULL,
  -- The track's duration when it was added, so playlist totals need no catalog call.
  duration_ms integer NOT NULL DEFAULT 0,
  CONSTRAINT playlist_tracks_pkey PRIMARY KEY (playlist_id, position) DEFERRABLE INITIALLY IMMEDIATE
);
