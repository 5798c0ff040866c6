-- Lyrics read at import, from a file's tags or a sidecar `.lrc` / `.txt` beside it.
--
-- lines: [{"startMs": 12340, "text": "..."}] when synced, [{"text": "..."}] when not; at most
--   LYRICS_MAX_LINES lines of LYRICS_MAX_LINE characters (common/contracts/catalog.ts).
-- offset_ms: LRC's [offset:], as OpenSubsonic means it (positive: the lyrics come sooner).
-- name_key: normalised "artist\ntitle", for Subsonic's getLyrics (by artist and title).
-- A track that leaves the library takes its lyrics with it; a file read again rewrites them.
CREATE TABLE lyrics (
  track_id text PRIMARY KEY REFERENCES tracks (id) ON DELETE CASCADE,
  name_key text NOT NULL,
  lang text NOT NULL,
  synced boolean NOT NULL,
  offset_ms integer NOT NULL DEFAULT 0,
  lines jsonb NOT NULL
);
CREATE INDEX lyrics_by_name ON lyrics (name_key);
