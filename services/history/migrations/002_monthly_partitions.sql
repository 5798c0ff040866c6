-- The play log partitioned by UTC month of played_at (services/history/partitions.ts creates
-- months ahead and drops those past PLAY_LOG_RETENTION). A unique key of a partitioned table
-- must hold the partition key, so event ids are no longer unique in `plays` itself: each play
-- first claims its id in `play_ids` (same statement, ON CONFLICT DO NOTHING), and only claimed
-- ids are inserted. `play_ids` forgets ids after the dedup window (PLAY_MAX_AGE_DAYS + 1 days
-- of play time), so it stays small while `plays` grows.

-- Creates the partition of one UTC month if it is missing; true when it made it.
CREATE OR REPLACE FUNCTION create_play_partition(month date) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
  part text := format('plays_%s', to_char(month, 'YYYY_MM'));
BEGIN
  IF to_regclass(format('%I.%I', current_schema(), part)) IS NOT NULL THEN
    RETURN false;
  END IF;
  EXECUTE format(
    'CREATE TABLE %I.%I PARTITION OF %I.plays FOR VALUES FROM (%L) TO (%L)',
    current_schema(), part, current_schema(),
    date_trunc('month', month)::timestamp AT TIME ZONE 'UTC',
    (date_trunc('month', month) + interval '1 month')::timestamp AT TIME ZONE 'UTC');
  RETURN true;
END $$;

ALTER TABLE plays RENAME TO plays_unpartitioned;
ALTER INDEX plays_pkey RENAME TO plays_unpartitioned_pkey;
ALTER INDEX plays_event_id_key RENAME TO plays_unpartitioned_event_id_key;
ALTER INDEX plays_user_recent RENAME TO plays_unpartitioned_user_recent;
-- `seq` goes on from where it was.
ALTER SEQUENCE plays_seq_seq OWNED BY NONE;

CREATE TABLE plays (
  seq         bigint      NOT NULL DEFAULT nextval('plays_seq_seq'),
  event_id    uuid        NOT NULL,
  user_id     text        NOT NULL,
  track_id    text        NOT NULL,
  played_at   timestamptz NOT NULL,
  ms_played   integer     NOT NULL CHECK (ms_played >= 0),
  source      text        NOT NULL,
  recorded_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (seq, played_at)
) PARTITION BY RANGE (played_at);
ALTER SEQUENCE plays_seq_seq OWNED BY plays.seq;

-- A user's recent plays, newest first (each partition's index is read backwards, newest
-- month first, until the limit is reached).
CREATE INDEX plays_user_recent ON plays (user_id, played_at DESC, seq DESC);
-- Looking a play up by its event id (history.export's eventIds).
CREATE INDEX plays_event_id ON plays (event_id);

-- Event ids of the plays stored, for the dedup window.
CREATE TABLE play_ids (
  event_id  uuid        PRIMARY KEY,
  played_at timestamptz NOT NULL
);
CREATE INDEX play_ids_age ON play_ids (played_at);

-- Every month the old table holds, and the current one.
SELECT create_play_partition(m::date)
FROM generate_series(
  date_trunc('month', coalesce((SELECT min(played_at) FROM plays_unpartitioned), now()) AT TIME ZONE 'UTC'),
  date_trunc('month', greatest((SELECT max(played_at) FROM plays_unpartitioned), now()) AT TIME ZONE 'UTC'),
  interval '1 month') AS m;

INSERT INTO plays (seq, event_id, user_id, track_id, played_at, ms_played, source, recorded_at)
SELECT seq, event_id, user_id, track_id, played_at, ms_played, source, recorded_at FROM plays_unpartitioned;
INSERT INTO play_ids (event_id, played_at) SELECT event_id, played_at FROM plays_unpartitioned;
DROP TABLE plays_unpartitioned;
