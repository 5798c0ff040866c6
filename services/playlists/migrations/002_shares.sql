-- Share links: a track, an album or a playlist of its owner, opened by an unguessable token.
CREATE TABLE shares (
  id              text PRIMARY KEY,
  -- Looked up by the SHA-256 of the token the link carries, so how long a lookup takes says
  -- nothing about any stored token. The token is kept too, so its owner sees the link again
  -- (Subsonic getShares answers each share's url).
  token_hash      bytea       NOT NULL UNIQUE,
  token           text        NOT NULL,
  owner_id        text        NOT NULL,
  owner_name      text        NOT NULL,
  kind            text        NOT NULL CHECK (kind IN ('track', 'album', 'playlist')),
  item_id         text        NOT NULL,
  -- A shared playlist: its deletion deletes its shares.
  playlist_id     text REFERENCES playlists (id) ON DELETE CASCADE,
  description     text        NOT NULL DEFAULT '',
  downloadable    boolean     NOT NULL DEFAULT false,
  expires_at      timestamptz,
  created_at      timestamptz NOT NULL DEFAULT now(),
  last_visited_at timestamptz,
  visit_count     integer     NOT NULL DEFAULT 0,
  CHECK ((kind = 'playlist') = (playlist_id IS NOT NULL))
);
CREATE INDEX shares_owner ON shares (owner_id, created_at);
CREATE INDEX shares_playlist ON shares (playlist_id) WHERE playlist_id IS NOT NULL;
-- "Does this playlist hold that track?" for a shared playlist's streams.
CREATE INDEX playlist_tracks_track ON playlist_tracks (playlist_id, track_id);
