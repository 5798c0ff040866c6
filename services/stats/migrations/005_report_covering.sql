-- A year's report reads a user's rows of the year, a thousand or so per table for someone who
-- plays three tracks a day, and they lie on about as many heap pages (written over the year).
-- With the counts carried in the primary key (INCLUDE), a report reads them from the index
-- alone (an index-only scan: bench/README.md, datascale). The upserts' conflict target, the
-- key columns, stays the same.
ALTER TABLE report_tracks DROP CONSTRAINT IF EXISTS report_tracks_pkey,
  ADD CONSTRAINT report_tracks_pkey PRIMARY KEY (user_id, month, track_id) INCLUDE (plays, ms_played);
ALTER TABLE report_hours DROP CONSTRAINT IF EXISTS report_hours_pkey,
  ADD CONSTRAINT report_hours_pkey PRIMARY KEY (user_id, month, weekday, hour) INCLUDE (plays);
