-- Playlists made from the catalog's playlist files (`.m3u` / `.m3u8` in a library).
--
-- * playlists.file: where the playlist comes from and what of the file was not found
--   ({libraryId, path, missing, missingCount, error}); NULL for every other playlist. Its tracks
--   follow the file: the app refuses to change them.
-- * playlist_files: the newest event applied per file (library, path relative to its folder),
--   kept after the file is removed, so an older event arriving late (a retry, another worker)
--   neither brings back a removed playlist nor undoes a newer version.
ALTER TABLE playlists ADD COLUMN file jsonb;

CREATE TABLE playlist_files (
  library_id  integer NOT NULL,
  path        text    NOT NULL,
  version     bigint  NOT NULL,
  playlist_id text REFERENCES playlists (id) ON DELETE SET NULL,
  PRIMARY KEY (library_id, path)
);
CREATE INDEX playlist_files_playlist ON playlist_files (playlist_id) WHERE playlist_id IS NOT NULL;
