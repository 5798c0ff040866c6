-- The catalog at a collector's size (a million tracks): every read is served by an index and
-- reads a page's worth of rows, whatever the size.
--
-- * Search: trigram indexes (pg_trgm, a trusted extension the database owner may create) on
--   the normalised text, so a fragment anywhere ('%lue riv%') and a prefix are index lookups;
--   btree text_pattern_ops indexes for exact and prefix matches in name order. The tsvector
--   columns they replace go.
-- * Counts kept with their rows: an album's track count and duration, an artist's album and
--   track counts, genres as rows with counts, catalog totals. Statement-level triggers apply
--   the changes of each statement as deltas (commutative, so concurrent imports add up right),
--   touching only the rows a statement changed: no whole-catalog refresh ever.
-- * Listing orders as indexes: tracks carry their album's and artist's sort names, genre and
--   year (set by trigger), so every listing (all tracks, by genre, albums by artist) is one
--   btree in its order, and pages are keyset ranges of it.
-- * seq: the number in a row's id, dense enough for random picks by range.
-- * catalog_totals.version: bumped by every change, so caches of whole answers (the artist
--   index, the offset anchors of deep pages) know when they are stale.

CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA public;

DROP INDEX artists_search, albums_search, tracks_search;
ALTER TABLE artists DROP COLUMN search_vector;
ALTER TABLE albums DROP COLUMN search_vector;
ALTER TABLE tracks DROP COLUMN search_vector;
DROP FUNCTION search_document(text, text);
DROP INDEX albums_genre;

ALTER TABLE artists
  ADD COLUMN album_count integer NOT NULL DEFAULT 0,
  ADD COLUMN track_count integer NOT NULL DEFAULT 0;
ALTER TABLE albums
  ADD COLUMN track_count integer NOT NULL DEFAULT 0,
  ADD COLUMN duration_ms bigint NOT NULL DEFAULT 0,
  ADD COLUMN artist_sort text,
  ADD COLUMN seq bigint GENERATED ALWAYS AS (substr(id, 3)::bigint) STORED;
ALTER TABLE tracks
  ADD COLUMN artist_sort text,
  ADD COLUMN album_sort text,
  ADD COLUMN genre text,
  ADD COLUMN year integer,
  ADD COLUMN seq bigint;

CREATE TABLE genres (
  name text PRIMARY KEY,
  album_count integer NOT NULL DEFAULT 0,
  track_count integer NOT NULL DEFAULT 0
);

CREATE TABLE catalog_totals (
  only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
  artists integer NOT NULL,
  albums integer NOT NULL,
  tracks integer NOT NULL,
  version bigint NOT NULL DEFAULT 1
);

-- Back-fill, set-based, before the indexes and triggers exist (one pass per table).
UPDATE albums al SET artist_sort = ar.search_name FROM artists ar WHERE ar.id = al.artist_id;
UPDATE tracks t SET artist_sort = al.artist_sort, album_sort = al.search_name, genre = al.genre, year = al.year,
  seq = substr(t.id, 3)::bigint
FROM albums al WHERE al.id = t.album_id;
UPDATE albums al SET track_count = c.n, duration_ms = c.ms
FROM (SELECT album_id, count(*)::int AS n, sum(duration_ms)::bigint AS ms FROM tracks GROUP BY album_id) c
WHERE al.id = c.album_id;
UPDATE artists ar SET album_count = c.albums, track_count = c.tracks
FROM (SELECT artist_id, count(*)::int AS albums, sum(track_count)::int AS tracks FROM albums GROUP BY artist_id) c
WHERE ar.id = c.artist_id;
INSERT INTO genres (name, album_count, track_count)
SELECT genre, count(*), sum(track_count) FROM albums WHERE genre IS NOT NULL GROUP BY genre;
INSERT INTO catalog_totals (artists, albums, tracks)
SELECT (SELECT count(*) FROM artists), (SELECT count(*) FROM albums), (SELECT count(*) FROM tracks);

ALTER TABLE albums ALTER COLUMN artist_sort SET NOT NULL;
ALTER TABLE tracks
  ALTER COLUMN artist_sort SET NOT NULL,
  ALTER COLUMN album_sort SET NOT NULL,
  ALTER COLUMN seq SET NOT NULL;

-- Search.
CREATE INDEX artists_name_trgm ON artists USING gin (search_name public.gin_trgm_ops);
CREATE INDEX artists_name_prefix ON artists (search_name text_pattern_ops);
CREATE INDEX albums_name_trgm ON albums USING gin (search_name public.gin_trgm_ops);
CREATE INDEX albums_text_trgm ON albums USING gin ((search_name || ' ' || search_context) public.gin_trgm_ops);
CREATE INDEX albums_name_prefix ON albums (search_name text_pattern_ops);
CREATE INDEX tracks_name_trgm ON tracks USING gin (search_name public.gin_trgm_ops);
CREATE INDEX tracks_text_trgm ON tracks USING gin ((search_name || ' ' || search_context) public.gin_trgm_ops);
CREATE INDEX tracks_name_prefix ON tracks (search_name text_pattern_ops);

-- Listing orders (services/catalog/pages.ts names the same keys).
CREATE INDEX artists_order ON artists (search_name, name, id);
CREATE INDEX albums_order ON albums (search_name, title, id);
CREATE INDEX albums_by_artist ON albums (artist_sort, artist_id, search_name, title, id);
CREATE INDEX albums_newest ON albums (created_at, id);
CREATE INDEX albums_by_year ON albums ((coalesce(year, 10000)), search_name, title, id);
CREATE INDEX albums_by_year_desc ON albums ((coalesce(-year, 1)), search_name, title, id);
CREATE INDEX albums_by_genre ON albums (genre, search_name, title, id);
CREATE INDEX albums_seq ON albums (seq);
CREATE INDEX tracks_order ON tracks (artist_sort, album_sort, album_id, (coalesce(number, 2147483647)), search_name, id);
CREATE INDEX tracks_by_genre ON tracks (genre, artist_sort, album_sort, album_id, (coalesce(number, 2147483647)), search_name, id);
CREATE INDEX tracks_seq ON tracks (seq);
CREATE INDEX tracks_genre_seq ON tracks (genre, seq);
-- An album's tracks in album order (getAlbum).
DROP INDEX tracks_album;
CREATE INDEX tracks_album ON tracks (album_id, (coalesce(number, 2147483647)), search_name, id);

-- ---- Keeping it all in step -------------------------------------------------------------------
-- The functions keep the schema they were made in, so writers with another search_path
-- (a bulk load naming catalog.tracks) keep the counts too.

-- What a track copies of its album and artist (their sort names never change: they are the
-- normalised natural keys). Skipped when a bulk load supplies them.
CREATE FUNCTION tracks_copy_album() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
  SELECT al.artist_sort, al.search_name, al.genre, al.year
    INTO NEW.artist_sort, NEW.album_sort, NEW.genre, NEW.year
  FROM albums al WHERE al.id = NEW.album_id;
  NEW.seq := substr(NEW.id, 3)::bigint;
  RETURN NEW;
END $$;
CREATE TRIGGER tracks_copy_album_on_insert BEFORE INSERT ON tracks
  FOR EACH ROW WHEN (NEW.album_sort IS NULL OR NEW.seq IS NULL) EXECUTE FUNCTION tracks_copy_album();
CREATE TRIGGER tracks_copy_album_on_move BEFORE UPDATE OF album_id ON tracks
  FOR EACH ROW WHEN (OLD.album_id IS DISTINCT FROM NEW.album_id) EXECUTE FUNCTION tracks_copy_album();

CREATE FUNCTION albums_copy_artist() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
  SELECT ar.search_name INTO NEW.artist_sort FROM artists ar WHERE ar.id = NEW.artist_id;
  RETURN NEW;
END $$;
CREATE TRIGGER albums_copy_artist_on_insert BEFORE INSERT ON albums
  FOR EACH ROW WHEN (NEW.artist_sort IS NULL) EXECUTE FUNCTION albums_copy_artist();
CREATE TRIGGER albums_copy_artist_on_move BEFORE UPDATE OF artist_id ON albums
  FOR EACH ROW WHEN (OLD.artist_id IS DISTINCT FROM NEW.artist_id) EXECUTE FUNCTION albums_copy_artist();

-- Tracks changed by one statement, as +1/-1 per album: albums take their counts and durations;
-- the albums' own trigger passes the change on to artists and genres. A track whose album is
-- gone (a cascade) counts in the totals only: the album's removal took its counts away.
CREATE FUNCTION tracks_counted() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
DECLARE
  changed text := 'SELECT n.album_id AS new_album, n.duration_ms AS new_ms, o.album_id AS old_album, '
    'o.duration_ms AS old_ms FROM new_rows n JOIN old_rows o USING (id) '
    'WHERE (n.album_id, n.duration_ms) IS DISTINCT FROM (o.album_id, o.duration_ms)';
  changes text := CASE TG_OP
    WHEN 'INSERT' THEN 'SELECT album_id, 1 AS n, duration_ms::bigint AS ms FROM new_rows'
    WHEN 'DELETE' THEN 'SELECT album_id, -1 AS n, -duration_ms::bigint AS ms FROM old_rows'
    ELSE format('SELECT new_album, 1, new_ms::bigint FROM (%1$s) c UNION ALL '
                'SELECT old_album, -1, -old_ms::bigint FROM (%1$s) c', changed)
  END;
  found_any boolean;
BEGIN
  -- Statement triggers fire for statements that changed nothing too (the album counts' own
  -- follow-ups among them): those stop here.
  EXECUTE format('SELECT EXISTS (%s)', changes) INTO found_any;
  IF NOT found_any THEN RETURN NULL; END IF;
  EXECUTE format($f$
    WITH changes (album_id, n, ms) AS (%s),
    per_album AS (SELECT album_id, sum(n)::int AS n, sum(ms)::bigint AS ms FROM changes GROUP BY album_id),
    albums_done AS (
      UPDATE albums al SET track_count = al.track_count + c.n, duration_ms = al.duration_ms + c.ms
      FROM per_album c WHERE al.id = c.album_id AND (c.n <> 0 OR c.ms <> 0))
    UPDATE catalog_totals SET tracks = tracks + (SELECT coalesce(sum(n), 0) FROM per_album),
      version = version + 1$f$, changes);
  RETURN NULL;
END $$;
CREATE TRIGGER tracks_counted_insert AFTER INSERT ON tracks REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION tracks_counted();
CREATE TRIGGER tracks_counted_update AFTER UPDATE ON tracks REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION tracks_counted();
CREATE TRIGGER tracks_counted_delete AFTER DELETE ON tracks REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION tracks_counted();

-- Albums changed by one statement (added, removed, moved to another artist or genre, or their
-- track counts changed): old rows count -1, new rows +1, towards artists and genres. Tracks
-- follow their album's genre and year.
CREATE FUNCTION albums_counted() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
DECLARE
  changes text := CASE TG_OP
    WHEN 'INSERT' THEN 'SELECT artist_id, genre, 1, track_count FROM new_rows'
    WHEN 'DELETE' THEN 'SELECT artist_id, genre, -1, -track_count FROM old_rows'
    ELSE 'SELECT artist_id, genre, 1, track_count FROM new_rows '
         'UNION ALL SELECT artist_id, genre, -1, -track_count FROM old_rows'
  END;
BEGIN
  EXECUTE format($f$
    WITH changes (artist_id, genre, albums, tracks) AS (%s),
    per_artist AS (
      SELECT artist_id, sum(albums)::int AS albums, sum(tracks)::int AS tracks FROM changes GROUP BY artist_id),
    artists_done AS (
      UPDATE artists ar SET album_count = ar.album_count + c.albums, track_count = ar.track_count + c.tracks
      FROM per_artist c WHERE ar.id = c.artist_id AND (c.albums <> 0 OR c.tracks <> 0)),
    genres_done AS (
      INSERT INTO genres AS g (name, album_count, track_count)
      SELECT genre, sum(albums), sum(tracks) FROM changes WHERE genre IS NOT NULL GROUP BY genre
      HAVING sum(albums) <> 0 OR sum(tracks) <> 0
      ON CONFLICT (name) DO UPDATE SET album_count = g.album_count + EXCLUDED.album_count,
        track_count = g.track_count + EXCLUDED.track_count)
    UPDATE catalog_totals SET albums = albums + (SELECT coalesce(sum(albums), 0) FROM per_artist),
      version = version + 1$f$, changes);
  IF TG_OP = 'UPDATE' THEN
    IF EXISTS (SELECT 1 FROM new_rows n JOIN old_rows o USING (id)
               WHERE (n.genre, n.year) IS DISTINCT FROM (o.genre, o.year)) THEN
      UPDATE tracks t SET genre = n.genre, year = n.year
      FROM new_rows n JOIN old_rows o USING (id)
      WHERE t.album_id = n.id AND (n.genre, n.year) IS DISTINCT FROM (o.genre, o.year);
    END IF;
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER albums_counted_insert AFTER INSERT ON albums REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION albums_counted();
CREATE TRIGGER albums_counted_update AFTER UPDATE ON albums REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION albums_counted();
CREATE TRIGGER albums_counted_delete AFTER DELETE ON albums REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION albums_counted();

CREATE FUNCTION artists_counted() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    UPDATE catalog_totals SET artists = artists + (SELECT count(*) FROM new_rows), version = version + 1;
  ELSE
    UPDATE catalog_totals SET artists = artists - (SELECT count(*) FROM old_rows), version = version + 1;
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER artists_counted_insert AFTER INSERT ON artists REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION artists_counted();
CREATE TRIGGER artists_counted_delete AFTER DELETE ON artists REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION artists_counted();
