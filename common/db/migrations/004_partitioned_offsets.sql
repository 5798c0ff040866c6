-- The event log is partitioned (common/events/partitions.ts): a projection keeps one offset per
-- partition, each moved in the same transaction as the effects of that partition's events. The
-- rows from before partitions become those of the legacy partition (-1, the old single stream),
-- which is read to its end like any other, so an upgraded system keeps its history.
ALTER TABLE projection_offsets ADD COLUMN IF NOT EXISTS log_partition int NOT NULL DEFAULT -1;
ALTER TABLE projection_offsets ALTER COLUMN log_partition DROP DEFAULT;
-- Who applied it last (host:pid), for `npm run replay -- --list`.
ALTER TABLE projection_offsets ADD COLUMN IF NOT EXISTS leader text;
ALTER TABLE projection_offsets DROP CONSTRAINT IF EXISTS projection_offsets_pkey;
ALTER TABLE projection_offsets ADD PRIMARY KEY (projection, log_partition);

ALTER TABLE projection_rejects ADD COLUMN IF NOT EXISTS log_partition int NOT NULL DEFAULT -1;
ALTER TABLE projection_rejects ALTER COLUMN log_partition DROP DEFAULT;
ALTER TABLE projection_rejects DROP CONSTRAINT IF EXISTS projection_rejects_pkey;
ALTER TABLE projection_rejects ADD PRIMARY KEY (projection, log_partition, log_offset);
