import { catalogContract, scrobblerContract, TrackCache } from '../../common/contracts/index.js';
import { defineService, loadTokenSecrets, Sealer } from '../../common/index.js';
import { EarlierReader } from './earlier.js';
import { nowPlayingSubscriber, scrobblerHandlers } from './handlers.js';
import { LastfmClient } from './lastfm.js';
import { ListenBrainzClient } from './listenbrainz.js';
import { SCROBBLER_MIGRATIONS, scrobbleProjection } from './projection.js';
import { ListenSender } from './sender.js';

/** How often an idle sender or reader looks for work. */
const POLL_MS = 500;

/**
 * Scrobbling (schema `scrobbler`): users' links to ListenBrainz and Last.fm, the consumer group
 * on the event log that queues their plays, the sender that submits them, and the reading of
 * earlier plays. The only service that talks to the outside world, so that the outside
 * world's slowness and failures stay here (docs/ARCHITECTURE.md, "Scrobbling").
 */
export const scrobblerService = defineService({
  name: 'scrobbler',
  contract: scrobblerContract,
  migrations: SCROBBLER_MIGRATIONS,
  projections: [scrobbleProjection],
  async setup({ config, pool, rpc, log, broker }) {
    // The token secret seals the credentials (the same secret as the users service's, a key of its own).
    const sealer = new Sealer(await loadTokenSecrets(config), 'scrobbler-credentials-v1');
    const timeoutMs = config.scrobbleTimeoutMs;
    // Linking waits for the service while the user waits: within the RPC timeout.
    const linkTimeoutMs = Math.max(100, Math.min(timeoutMs, config.rpcTimeoutMs - 1000));
    const tracks = new TrackCache(rpc.bind(catalogContract), config.trackNamesTtlMs);
    const outside = {
      listenbrainz: new ListenBrainzClient(config.listenbrainzUrl, timeoutMs),
      lastfm: new LastfmClient(config.lastfmUrl, config.lastfmApiKey, config.lastfmSecret, timeoutMs),
      tracks: (ids: readonly string[]) => tracks.get(ids),
      sealer,
    };
    const deps = {
      ...outside,
      pool,
      partitions: config.eventLogPartitions,
      lastfmAuthUrl: config.lastfmAuthUrl,
      lastfmApiKey: config.lastfmApiKey,
    };
    const linking = {
      ...deps,
      listenbrainz: new ListenBrainzClient(config.listenbrainzUrl, linkTimeoutMs),
      lastfm: new LastfmClient(config.lastfmUrl, config.lastfmApiKey, config.lastfmSecret, linkTimeoutMs),
    };
    const leaseMs = 2 * timeoutMs + 30_000;
    return {
      handlers: scrobblerHandlers(linking),
      subscribers: { nowPlaying: nowPlayingSubscriber({ ...linking, log }) },
      workers: [
        new ListenSender({
          ...outside,
          pool,
          log,
          pollMs: POLL_MS,
          backoffMaxMs: config.scrobbleBackoffMaxMs,
          leaseMs,
        }),
        new EarlierReader({ pool, broker, log, pollMs: POLL_MS, leaseMs: 60_000 }),
      ],
    };
  },
});
