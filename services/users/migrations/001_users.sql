CREATE TABLE users (
  id            text PRIMARY KEY,
  username      text        NOT NULL,
  display_name  text        NOT NULL,
  bio           text        NOT NULL DEFAULT '',
  -- scrypt parameters, salt and hash in one string (see services/users/password.ts)
  password_hash text        NOT NULL,
  created_at    timestamptz NOT NULL DEFAULT now(),
  updated_at    timestamptz NOT NULL DEFAULT now()
);
-- Usernames are unique whatever their case: "Alice" and "alice" are the same person.
CREATE UNIQUE INDEX users_username_key ON users (lower(username));

-- Login attempts per username in a fixed window, counted since the last successful login,
-- shared by every worker of the service.
CREATE TABLE login_attempts (
  username_key text PRIMARY KEY,
  attempts     integer     NOT NULL,
  window_start timestamptz NOT NULL
);
CREATE INDEX login_attempts_window ON login_attempts (window_start);
