-- Subsonic clients authenticate every request with md5(password + salt), which can only be
-- checked against the password itself: it is kept sealed with AES-256-GCM next to the scrypt
-- hash (see services/users/password.ts and docs/SUBSONIC.md). Null until the user next gives
-- the password (register, login, or a Subsonic request with p=).
ALTER TABLE users ADD COLUMN subsonic_secret text;

-- OpenSubsonic API keys. Only a SHA-256 of each key is kept; the key is shown once.
CREATE TABLE api_keys (
  id           text PRIMARY KEY,
  user_id      text        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  name         text        NOT NULL,
  key_hash     text        NOT NULL UNIQUE,
  created_at   timestamptz NOT NULL DEFAULT now(),
  last_used_at timestamptz
);
CREATE INDEX api_keys_user ON api_keys (user_id, created_at);

-- What each user starred (Subsonic star/unstar): catalog ids, checked by the caller.
CREATE TABLE stars (
  user_id    text        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  kind       text        NOT NULL CHECK (kind IN ('song', 'album', 'artist')),
  item_id    text        NOT NULL,
  starred_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (user_id, kind, item_id)
);
CREATE INDEX stars_recent ON stars (user_id, starred_at DESC);
