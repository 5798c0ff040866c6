-- Who played a track: the listeners whose other plays make "people who play this also play"
-- (stats.coPlayed). A replay builds user_tracks afresh with these migrations, index included.
CREATE INDEX IF NOT EXISTS user_tracks_track ON user_tracks (track_id, user_id);
