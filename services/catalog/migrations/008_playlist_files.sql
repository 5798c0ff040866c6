-- Playlist files: the `.m3u` / `.m3u8` files of each library, as the import last read them.
--
-- * libraries.owner_id: who owns the playlists made from the library's playlist files (a user
--   id of the users service, not a foreign key); NULL: the first administrator.
-- * playlist_files: one row per file (absolute path, as tracks.file_path), compared by size and
--   modification time like the audio files. `raw` holds its entries as written and `lines`
--   their line numbers, so they can be looked up again when tracks arrive or leave without
--   reading the file. `track_ids` is what
--   was last published; `version` (from one sequence) orders the events the playlists service
--   receives about playlist files, so an older one arriving late is passed over.
ALTER TABLE libraries ADD COLUMN owner_id text;

CREATE SEQUENCE playlist_file_versions;

CREATE TABLE playlist_files (
  file_path     text PRIMARY KEY,
  library_id    integer NOT NULL REFERENCES libraries (id) ON DELETE CASCADE,
  size_bytes    bigint NOT NULL,
  file_mtime_ms double precision NOT NULL,
  name          text NOT NULL,
  lines         integer[] NOT NULL DEFAULT '{}',
  raw           text[] NOT NULL DEFAULT '{}',
  track_ids     text[] NOT NULL DEFAULT '{}',
  missing_count integer NOT NULL DEFAULT 0,
  error         text,
  version       bigint NOT NULL
);
CREATE INDEX playlist_files_library ON playlist_files (library_id, file_path);
