-- A removed library's tracks are removed tracks like any other, and a removed track is seen by
-- whom its library was seen.
--
-- * removed_tracks.library_id: the library the track was in. Rows kept before this migration
--   take their album's library while the album is still there, or library 1 on an install that
--   never had another; the rest stay NULL, and only the services see what those were.
-- * libraries.removed_at: a removed library is kept as a row (without its folder), so its
--   grants still say who saw it: playlists and history show its tracks to those users as they
--   were, marked unavailable. Nothing lists it, nothing imports into it, nothing can be granted
--   on it, and its name is free again.

ALTER TABLE removed_tracks ADD COLUMN library_id integer;
UPDATE removed_tracks r SET library_id = coalesce(
  (SELECT al.library_id FROM albums al WHERE al.id = r.album_id),
  CASE WHEN (SELECT count(*) FROM libraries) = 1 THEN 1 END);

ALTER TABLE libraries ADD COLUMN removed_at timestamptz;
ALTER TABLE libraries DROP CONSTRAINT libraries_name_key;
CREATE UNIQUE INDEX libraries_name_key ON libraries (name) WHERE removed_at IS NULL;
