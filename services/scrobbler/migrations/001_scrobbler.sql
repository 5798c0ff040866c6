-- Scrobbling (services/scrobbler): users' links to ListenBrainz and Last.fm, and the listens
-- waiting to go to them (an outbox per user and service).

-- One link per user and service. `secret` is sealed (common/sealing.ts): a ListenBrainz token
-- or a Last.fm session key, readable only with the token secret and only for this user.
CREATE TABLE IF NOT EXISTS links (
  user_id      text        NOT NULL,
  service      text        NOT NULL CHECK (service IN ('listenbrainz', 'lastfm')),
  secret       text        NOT NULL,
  account      text,
  -- 'broken': the service refused the credentials; its listens wait until the user links again.
  state        text        NOT NULL DEFAULT 'ok' CHECK (state IN ('ok', 'broken')),
  problem      text,
  -- Plays dated from here on are sent as they come; earlier ones only when the user asks.
  linked_at    timestamptz NOT NULL DEFAULT now(),
  -- No call before this (a rate limit, or the back-off after failures in a row).
  not_before   timestamptz NOT NULL DEFAULT now(),
  failures     integer     NOT NULL DEFAULT 0,
  -- The sender holding this link's next batch, and until when (another takes it over after).
  lease_until  timestamptz,
  last_sent_at timestamptz,
  PRIMARY KEY (user_id, service)
);

-- Listens to send: each play once per user and service (the event id), whatever path queued
-- it (as it came, or read again for "send my earlier plays").
CREATE TABLE IF NOT EXISTS listens (
  id          bigserial   PRIMARY KEY,
  user_id     text        NOT NULL,
  service     text        NOT NULL,
  event_id    uuid        NOT NULL,
  track_id    text        NOT NULL,
  played_at   timestamptz NOT NULL,
  ms_played   integer     NOT NULL,
  -- 'live': came after the link; 'import': read from the log for "send my earlier plays".
  kind        text        NOT NULL CHECK (kind IN ('live', 'import')),
  -- queued -> sent (the service took it), skipped (our rules: too short, too old for Last.fm,
  -- unknown track) or refused (the service refused this listen; the reason says why).
  state       text        NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'sent', 'skipped', 'refused')),
  reason      text,
  queued_at   timestamptz NOT NULL DEFAULT now(),
  done_at     timestamptz,
  UNIQUE (user_id, service, event_id)
);
CREATE INDEX IF NOT EXISTS listens_waiting ON listens (user_id, service, id) WHERE state = 'queued';
CREATE INDEX IF NOT EXISTS listens_by_state ON listens (user_id, service, state);

-- "Send my earlier plays": the reading of the user's partition of the event log, resumable
-- (the next offset commits with the listens it queued).
CREATE TABLE IF NOT EXISTS earlier_reads (
  user_id      text        NOT NULL,
  service      text        NOT NULL,
  log_partition integer    NOT NULL,
  -- Read from here up to and including end_offset (the newest event when the reading began);
  -- the bounds are NULL until a reader has looked at the partition.
  next_offset  bigint      NOT NULL DEFAULT 0,
  first_offset bigint,
  end_offset   bigint,
  -- Plays dated before this are the earlier ones (the link's time).
  before       timestamptz NOT NULL,
  queued       integer     NOT NULL DEFAULT 0,
  state        text        NOT NULL DEFAULT 'reading' CHECK (state IN ('reading', 'done')),
  lease_until  timestamptz,
  started_at   timestamptz NOT NULL DEFAULT now(),
  finished_at  timestamptz,
  PRIMARY KEY (user_id, service)
);
