import { type Config, config, loadTokenSecrets, migrate, type Pool } from '../../common/index.js';
import { PasswordSealer } from './password.js';
import { USERS_MIGRATIONS } from './service.js';
import { createUser } from './store.js';

export const DEMO_USERNAME = 'demo';
export const DEMO_PASSWORD = 'demo1234';

/**
 * Creates the demo account (`demo` / `demo1234`) unless it exists. `pool` resolves names in
 * the users schema; migrations run first (they are idempotent), so seeding works before any
 * users worker has started. Registration goes through the same path as `users.register`, so
 * `user.registered` is published by the outbox relay once a users worker runs. The password is
 * sealed for Subsonic token auth under the token secret the users workers use (the same
 * configuration, or the same secret file).
 */
export async function seedDemoUser(pool: Pool, cfg: Config = config()): Promise<void> {
  const { rows } = await pool.query<{ search_path: string }>('SHOW search_path');
  const schema = rows[0]?.search_path.split(',')[0]?.trim().replace(/^"|"$/g, '');
  if (!schema) throw new Error('seedDemoUser needs a pool whose search_path is the users schema');
  await migrate(pool, schema, USERS_MIGRATIONS);
  // Never an administrator, whatever else exists: its password is printed in the README.
  const sealer = new PasswordSealer(await loadTokenSecrets(cfg));
  await createUser(pool, DEMO_USERNAME, DEMO_PASSWORD, sealer, undefined, 'user');
}
