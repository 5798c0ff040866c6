-- The catalog: artists, their albums, the albums' tracks.
-- Ids are short prefixed numbers (ar1, al3, tr17) because users type them in the terminal
-- client. Seeding and importing are idempotent by natural key: artist name, album
-- (artist, title), track file path.
-- search_name / search_context hold lower-case, accent-stripped text (normalised in the
-- service, so no superuser-only extension is needed); the tsvector ranks title matches (A)
-- above matches on the album or artist (B).
-- created_at uses clock_timestamp() so rows added in one transaction still sort by arrival.

CREATE SEQUENCE artist_ids;
CREATE SEQUENCE album_ids;
CREATE SEQUENCE track_ids;

CREATE FUNCTION search_document(name text, context text) RETURNS tsvector
  LANGUAGE sql IMMUTABLE PARALLEL SAFE
  RETURN setweight(to_tsvector('simple'::regconfig, name), 'A') ||
         setweight(to_tsvector('simple'::regconfig, context), 'B');

CREATE TABLE artists (
  id text PRIMARY KEY,
  name text NOT NULL UNIQUE,
  search_name text NOT NULL,
  search_vector tsvector GENERATED ALWAYS AS (search_document(search_name, '')) STORED,
  created_at timestamptz NOT NULL DEFAULT clock_timestamp()
);

CREATE TABLE albums (
  id text PRIMARY KEY,
  artist_id text NOT NULL REFERENCES artists (id) ON DELETE CASCADE,
  title text NOT NULL,
  year integer CHECK (year BETWEEN 0 AND 9999),
  genre text,
  cover_color text NOT NULL CHECK (cover_color ~ '^#[0-9a-f]{6}$'),
  search_name text NOT NULL,
  search_context text NOT NULL,
  search_vector tsvector GENERATED ALWAYS AS (search_document(search_name, search_context)) STORED,
  created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  UNIQUE (artist_id, title)
);
CREATE INDEX albums_genre ON albums (lower(genre));

CREATE TABLE tracks (
  id text PRIMARY KEY,
  album_id text NOT NULL REFERENCES albums (id) ON DELETE CASCADE,
  title text NOT NULL,
  number integer CHECK (number >= 0),
  duration_ms integer NOT NULL CHECK (duration_ms >= 0),
  -- Relative paths are under the media folder (the seed); absolute ones are imported in place.
  file_path text NOT NULL UNIQUE,
  mime_type text NOT NULL,
  size_bytes bigint NOT NULL CHECK (size_bytes >= 0),
  search_name text NOT NULL,
  search_context text NOT NULL,
  search_vector tsvector GENERATED ALWAYS AS (search_document(search_name, search_context)) STORED,
  created_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX tracks_album ON tracks (album_id, number, title);

CREATE INDEX artists_search ON artists USING gin (search_vector);
CREATE INDEX albums_search ON albums USING gin (search_vector);
CREATE INDEX tracks_search ON tracks USING gin (search_vector);
