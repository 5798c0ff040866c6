-- Login sessions: every token names one, so logout and password changes can end it before it
-- expires. Rows are deleted a day after they expire.
CREATE TABLE sessions (
  id         text PRIMARY KEY,
  user_id    text        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL,
  revoked_at timestamptz
);
CREATE INDEX sessions_user ON sessions (user_id) WHERE revoked_at IS NULL;
CREATE INDEX sessions_expiry ON sessions (expires_at);

-- Failed credential checks, per client address, per (username, address) and per username
-- (services/users/rate-limit.ts). Replaces the per-username window, which let anyone lock
-- any user out.
DROP TABLE login_attempts;
CREATE TABLE login_failures (
  scope           text        NOT NULL CHECK (scope IN ('address', 'pair', 'username')),
  key             text        NOT NULL,
  failures        integer     NOT NULL,
  last_failure_at timestamptz NOT NULL,
  blocked_until   timestamptz NOT NULL,
  PRIMARY KEY (scope, key)
);
CREATE INDEX login_failures_age ON login_failures (last_failure_at);
