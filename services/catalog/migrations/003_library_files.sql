-- What the importer needs to keep a library folder in step with the catalog.
--
-- file_mtime_ms: the modification time (ms since 1970, with its fraction) of the file when its
-- tags were last read; with size_bytes it tells a rescan which files are unchanged, so their
-- tags are not read again. NULL for seeded tracks, which the importer never looks at.
ALTER TABLE tracks ADD COLUMN file_mtime_ms double precision;

-- A track whose file left the library: what the catalog last said of it, so playlists,
-- history and reports that name its id can still show what it was, marked unavailable.
-- match_key (artist, album, title, number, duration) gives a file that comes back (moved,
-- renamed, restored) its old id, so stars, plays and playlists find it again.
CREATE TABLE removed_tracks (
  id text PRIMARY KEY,
  title text NOT NULL,
  album_id text NOT NULL,
  album_title text NOT NULL,
  artist_id text NOT NULL,
  artist_name text NOT NULL,
  number integer,
  duration_ms integer NOT NULL,
  genre text,
  year integer,
  mime_type text NOT NULL,
  size_bytes bigint NOT NULL,
  file_path text NOT NULL,
  match_key text NOT NULL,
  removed_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX removed_tracks_match ON removed_tracks (match_key, removed_at DESC);

-- Files the importer could not read, with the size and time it saw: a rescan tries them
-- again only when they change.
CREATE TABLE unreadable_files (
  file_path text PRIMARY KEY,
  size_bytes bigint NOT NULL,
  file_mtime_ms double precision NOT NULL,
  reason text NOT NULL
);
