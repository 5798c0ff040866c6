-- Reads filtered by library that stay flat at a million tracks across several libraries.
--
-- * The listing and random-pick indexes carry the row's library (and what else their filters
--   and keys read: genre, year, number) as INCLUDE columns, so a scoped page or probe is an
--   index-only scan that checks each entry's library in the index, not in the table (a page
--   of a user's libraries used to visit a table page per index entry: hundreds of scattered
--   reads at 1M, every one in shared buffers at 10,000).
-- * albums_artist: an artist's albums (getArtist, top songs, similar songs) by the artist id
--   alone. Migration 007 replaced the (artist_id, title) key that served them with one led by
--   the library, and every such read became a scan of that key.
-- * library_years: albums per library and release year, kept by the albums' statement trigger
--   as library_genres are, so the total of a by-year listing is a sum over a few rows instead
--   of a count of the range.

CREATE INDEX albums_artist ON albums (artist_id);

DROP INDEX albums_order, albums_by_artist, albums_newest, albums_by_year, albums_by_year_desc, albums_by_genre,
  albums_seq, albums_library_seq;
CREATE INDEX albums_order ON albums (search_name, title, id) INCLUDE (library_id);
CREATE INDEX albums_by_artist ON albums (artist_sort, artist_id, search_name, title, id) INCLUDE (library_id);
CREATE INDEX albums_newest ON albums (created_at, id) INCLUDE (library_id);
CREATE INDEX albums_by_year ON albums ((coalesce(year, 10000)), search_name, title, id) INCLUDE (library_id, year);
CREATE INDEX albums_by_year_desc ON albums ((coalesce(-year, 1)), search_name, title, id) INCLUDE (library_id, year);
CREATE INDEX albums_by_genre ON albums (genre, search_name, title, id) INCLUDE (library_id);
CREATE INDEX albums_seq ON albums (seq) INCLUDE (library_id, genre, year, id);
CREATE INDEX albums_library_seq ON albums (library_id, seq) INCLUDE (genre, year, id);

DROP INDEX tracks_order, tracks_by_genre, tracks_seq, tracks_genre_seq, tracks_library_seq;
CREATE INDEX tracks_order ON tracks (artist_sort, album_sort, album_id, (coalesce(number, 2147483647)), search_name, id)
  INCLUDE (number, library_id);
CREATE INDEX tracks_by_genre ON tracks (genre, artist_sort, album_sort, album_id, (coalesce(number, 2147483647)),
  search_name, id) INCLUDE (number, library_id);
CREATE INDEX tracks_seq ON tracks (seq) INCLUDE (library_id, genre, year, id);
CREATE INDEX tracks_genre_seq ON tracks (genre, seq) INCLUDE (library_id, year, id);
CREATE INDEX tracks_library_seq ON tracks (library_id, seq) INCLUDE (genre, year, id);

-- Albums without a year count under 10000, as the by-year order places them (outside every range).
CREATE TABLE library_years (
  library_id integer NOT NULL REFERENCES libraries (id) ON DELETE CASCADE,
  year integer NOT NULL,
  album_count integer NOT NULL DEFAULT 0,
  PRIMARY KEY (library_id, year)
);
INSERT INTO library_years (library_id, year, album_count)
SELECT library_id, coalesce(year, 10000), count(*) FROM albums GROUP BY 1, 2;

-- Migration 007's function, with library_years taking the same deltas as library_genres.
CREATE OR REPLACE FUNCTION albums_counted() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
DECLARE
  changes text := CASE TG_OP
    WHEN 'INSERT' THEN 'SELECT library_id, artist_id, genre, coalesce(year, 10000), 1, track_count FROM new_rows'
    WHEN 'DELETE' THEN 'SELECT library_id, artist_id, genre, coalesce(year, 10000), -1, -track_count FROM old_rows'
    ELSE 'SELECT library_id, artist_id, genre, coalesce(year, 10000), 1, track_count FROM new_rows '
         'UNION ALL SELECT library_id, artist_id, genre, coalesce(year, 10000), -1, -track_count FROM old_rows'
  END;
BEGIN
  EXECUTE format($f$
    WITH changes (library_id, artist_id, genre, year, albums, tracks) AS (%s),
    per_artist AS (
      SELECT artist_id, sum(albums)::int AS albums, sum(tracks)::int AS tracks FROM changes GROUP BY artist_id),
    artists_done AS (
      UPDATE artists ar SET album_count = ar.album_count + c.albums, track_count = ar.track_count + c.tracks
      FROM per_artist c WHERE ar.id = c.artist_id AND (c.albums <> 0 OR c.tracks <> 0)),
    library_artists_done AS (
      INSERT INTO library_artists AS la (library_id, artist_id, album_count, track_count)
      SELECT c.library_id, c.artist_id, sum(c.albums), sum(c.tracks) FROM changes c
      WHERE EXISTS (SELECT 1 FROM artists ar WHERE ar.id = c.artist_id)
      GROUP BY c.library_id, c.artist_id HAVING sum(c.albums) <> 0 OR sum(c.tracks) <> 0
      ON CONFLICT (artist_id, library_id) DO UPDATE SET album_count = la.album_count + EXCLUDED.album_count,
        track_count = la.track_count + EXCLUDED.track_count),
    genres_done AS (
      INSERT INTO genres AS g (name, album_count, track_count)
      SELECT genre, sum(albums), sum(tracks) FROM changes WHERE genre IS NOT NULL GROUP BY genre
      HAVING sum(albums) <> 0 OR sum(tracks) <> 0
      ON CONFLICT (name) DO UPDATE SET album_count = g.album_count + EXCLUDED.album_count,
        track_count = g.track_count + EXCLUDED.track_count),
    library_genres_done AS (
      INSERT INTO library_genres AS lg (library_id, name, album_count, track_count)
      SELECT library_id, genre, sum(albums), sum(tracks) FROM changes WHERE genre IS NOT NULL
      GROUP BY library_id, genre HAVING sum(albums) <> 0 OR sum(tracks) <> 0
      ON CONFLICT (library_id, name) DO UPDATE SET album_count = lg.album_count + EXCLUDED.album_count,
        track_count = lg.track_count + EXCLUDED.track_count),
    library_years_done AS (
      INSERT INTO library_years AS ly (library_id, year, album_count)
      SELECT library_id, year, sum(albums) FROM changes GROUP BY library_id, year HAVING sum(albums) <> 0
      ON CONFLICT (library_id, year) DO UPDATE SET album_count = ly.album_count + EXCLUDED.album_count),
    libraries_done AS (
      UPDATE libraries l SET album_count = l.album_count + c.albums, track_count = l.track_count + c.tracks
      FROM (SELECT library_id, sum(albums)::int AS albums, sum(tracks)::int AS tracks FROM changes
            GROUP BY library_id) c
      WHERE l.id = c.library_id AND (c.albums <> 0 OR c.tracks <> 0))
    UPDATE catalog_totals SET albums = albums + (SELECT coalesce(sum(albums), 0) FROM per_artist),
      version = version + 1$f$, changes);
  IF TG_OP <> 'INSERT' THEN
    EXECUTE format($f$
      WITH changes (library_id, artist_id, genre, year) AS (
        SELECT library_id, artist_id, genre, year FROM (%s) c (library_id, artist_id, genre, year, albums, tracks)),
      artists_gone AS (
        DELETE FROM library_artists la USING changes c
        WHERE la.library_id = c.library_id AND la.artist_id = c.artist_id AND la.album_count <= 0),
      years_gone AS (
        DELETE FROM library_years ly USING changes c
        WHERE ly.library_id = c.library_id AND ly.year = c.year AND ly.album_count <= 0)
      DELETE FROM library_genres lg USING changes c
      WHERE lg.library_id = c.library_id AND lg.name = c.genre AND lg.album_count <= 0$f$, changes);
  END IF;
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
