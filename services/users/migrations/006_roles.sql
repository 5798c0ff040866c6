-- Roles: a user is an administrator or not, and an administrator may disable an account.
-- The first account made on a fresh install is the administrator (services/users/store.ts,
-- under an advisory lock so two first registrations cannot both be); an install that had
-- users before this migration has none until `npm run admin -- <username>` names one.
-- A disabled account cannot log in, and its sessions, API keys and Subsonic credentials
-- stop working (the gateway's auth cache bounds how soon: TOKEN_CACHE_TTL_MS).
ALTER TABLE users ADD COLUMN is_admin boolean NOT NULL DEFAULT false;
ALTER TABLE users ADD COLUMN disabled boolean NOT NULL DEFAULT false;
-- The admins are few: counting them (the last one may not be removed) reads this index.
CREATE INDEX users_admins ON users (created_at) WHERE is_admin AND NOT disabled;
