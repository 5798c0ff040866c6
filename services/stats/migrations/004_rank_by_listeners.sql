-- The public top tracks rank by listeners, not plays (services/stats/plays.ts): one account
-- counts once per track, however often it plays it. `track_plays.listeners` counts the
-- accounts that ever played a track (a new user_tracks row adds one); `user_tracks.last_played_at`
-- says which of them played it within a window (the hour and day tops count those rows).
ALTER TABLE track_plays ADD COLUMN IF NOT EXISTS listeners bigint NOT NULL DEFAULT 0;
ALTER TABLE user_tracks ADD COLUMN IF NOT EXISTS last_played_at timestamptz NOT NULL DEFAULT 'epoch';
UPDATE track_plays p SET listeners = l.n
FROM (SELECT track_id, count(*) AS n FROM user_tracks GROUP BY track_id) l
WHERE l.track_id = p.track_id AND p.listeners = 0;
DROP INDEX IF EXISTS track_plays_top;
CREATE INDEX IF NOT EXISTS track_plays_rank ON track_plays (listeners DESC, plays DESC, track_id);
CREATE INDEX IF NOT EXISTS user_tracks_recent ON user_tracks (last_played_at) INCLUDE (track_id);
