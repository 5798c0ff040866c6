-- Registrations counted per client address and overall, in fixed windows
-- (services/users/registrations.ts): a flood of new accounts is refused before any password
-- is hashed. Windows older than a day are deleted by every users worker now and then.
CREATE TABLE registration_counts (
  scope        text        NOT NULL CHECK (scope IN ('address', 'all')),
  key          text        NOT NULL,
  window_start timestamptz NOT NULL,
  count        integer     NOT NULL,
  PRIMARY KEY (scope, key, window_start)
);
CREATE INDEX registration_counts_age ON registration_counts (window_start);
