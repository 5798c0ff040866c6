-- ReplayGain read from a file's tags at import: gains in dB, peaks as a fraction of full scale.
-- NULL where the tags do not say (every seeded track; files never tagged by a ReplayGain scanner).
-- The bounds are GAIN_DB_MAX and PEAK_MAX of common/contracts/replay-gain.ts, which drops damaged values first.
ALTER TABLE tracks
  ADD COLUMN track_gain real CHECK (track_gain BETWEEN -60 AND 60),
  ADD COLUMN track_peak real CHECK (track_peak > 0 AND track_peak <= 10),
  ADD COLUMN album_gain real CHECK (album_gain BETWEEN -60 AND 60),
  ADD COLUMN album_peak real CHECK (album_peak > 0 AND album_peak <= 10);
