-- The listening report (projection `report`, services/stats/report.ts): plays per user and
-- UTC month, built from the event log. Artists, albums and genres are the catalog's: they are
-- looked up when a report is read, so replaying the log always gives the same rows.

-- Plays and listened time per user, month and track.
CREATE TABLE IF NOT EXISTS report_tracks (
  user_id   text   NOT NULL,
  month     date   NOT NULL,
  track_id  text   NOT NULL,
  plays     bigint NOT NULL,
  ms_played bigint NOT NULL,
  PRIMARY KEY (user_id, month, track_id)
);

-- Plays and listened time per user and UTC day (streaks, minutes).
CREATE TABLE IF NOT EXISTS report_days (
  user_id   text   NOT NULL,
  day       date   NOT NULL,
  plays     bigint NOT NULL,
  ms_played bigint NOT NULL,
  PRIMARY KEY (user_id, day)
);

-- Plays per user, month, weekday (1 Monday .. 7 Sunday, ISO) and UTC hour.
CREATE TABLE IF NOT EXISTS report_hours (
  user_id text   NOT NULL,
  month   date   NOT NULL,
  weekday int    NOT NULL,
  hour    int    NOT NULL,
  plays   bigint NOT NULL,
  PRIMARY KEY (user_id, month, weekday, hour)
);
