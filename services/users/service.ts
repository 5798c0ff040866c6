import { catalogContract, usersContract } from '../../common/contracts/index.js';
import { defineService, loadTokenSecrets, PeriodicTask, sourcePath } from '../../common/index.js';
import { usersHandlers } from './handlers.js';
import { NOW_PLAYING_LIMITS, pruneNowPlaying } from './now-playing.js';
import { LoginLimiter } from './rate-limit.js';
import { RegistrationThrottle } from './registrations.js';

export const USERS_MIGRATIONS = sourcePath(import.meta.url, 'migrations');

/** Accounts, passwords, sessions, API keys and stars (schema `users`). */
export const usersService = defineService({
  name: 'users',
  contract: usersContract,
  migrations: USERS_MIGRATIONS,
  // user.registered is written to the outbox with the new user; the relay publishes it.
  outbox: true,
  async setup({ config, pool, rpc, log }) {
    const limits = {
      perAddressPerHour: config.registerPerAddressPerHour,
      perMinute: config.registerPerMinute,
    };
    const handlers = usersHandlers({
      pool,
      secrets: await loadTokenSecrets(config),
      tokenTtlSeconds: config.tokenTtlSeconds,
      catalog: rpc.bind(catalogContract),
      registrations: limits,
      playsPerHour: config.playsPerHour,
    });
    const limiter = new LoginLimiter(pool);
    const registrations = new RegistrationThrottle(pool, limits);
    const pruning = new PeriodicTask({
      name: 'pruning now-playing entries and old throttling counts',
      everyMs: NOW_PLAYING_LIMITS.pruneMs,
      log,
      run: async () => {
        const deleted = {
          nowPlaying: await pruneNowPlaying(pool),
          loginFailures: await limiter.prune(),
          registrationCounts: await registrations.prune(),
        };
        return Object.values(deleted).some((n) => n > 0) ? deleted : null;
      },
    });
    return { handlers, subscribers: {}, workers: [pruning] };
  },
});
