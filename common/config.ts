/**
 * One typed configuration object, read once from the environment, validated, then frozen.
 * A bad value stops the process with a message naming the variable.
 */
import { DEFAULT_PARTITIONS, MAX_PARTITIONS } from './events/partitions.js';

export interface Config {
  /**
   * AMQP URL of the broker, or a comma-separated list of the nodes of a cluster: each process
   * connects to one of them (in a random order of its own) and moves to another when it loses it.
   */
  readonly amqpUrl: string;
  /**
   * AMQP heartbeat in seconds: a broker connection silent for two of these is presumed dead, so
   * a process cut off from its node moves to another within 10-15 s (the broker's default, 60 s,
   * would take two to three minutes).
   */
  readonly amqpHeartbeatSeconds: number;
  /**
   * Prefix for every queue and exchange name; empty in production. Lets a second copy of the
   * system (a test run, a benchmark) share a broker without seeing the first one's messages.
   */
  readonly amqpNamespace: string;
  /**
   * Whether each kind of process connects as a broker user of its own (`<prefix>-<kind>`, its
   * password derived from the broker secret), with permissions limited to what it uses; when
   * false, every process connects with AMQP_URL's credentials (common/amqp/users.ts).
   */
  readonly brokerUsers: boolean;
  /** Where the generated broker secret is kept (owner-only file), relative to the repository when not absolute. */
  readonly brokerSecretFile: string;
  /**
   * The broker's management API, which `npm run broker-users` creates the users with (empty: the
   * first AMQP node's host, its port plus 10000, over http).
   */
  readonly brokerManagementUrl: string;
  /** PostgreSQL connection string. */
  readonly databaseUrl: string;
  /**
   * A service's own PostgreSQL server (its schema lives there), when it is not DATABASE_URL's:
   * empty means DATABASE_URL. Read them through `databaseUrlFor`.
   */
  readonly catalogDatabaseUrl: string;
  readonly usersDatabaseUrl: string;
  readonly playlistsDatabaseUrl: string;
  readonly historyDatabaseUrl: string;
  readonly statsDatabaseUrl: string;
  readonly scrobblerDatabaseUrl: string;
  /**
   * Messages one consumer channel holds unacknowledged at once: a worker's request queue, and
   * each of its subscriptions (at least its batch size), each have their own.
   */
  readonly prefetch: number;
  /** Default RPC call timeout in milliseconds. */
  readonly rpcTimeoutMs: number;
  /** How long a call made while the broker connection is being made again waits for it. */
  readonly rpcReconnectWaitMs: number;
  /** How long history and stats show a track's names before asking the catalog again (0: always ask). */
  readonly trackNamesTtlMs: number;
  /** How old a top-tracks answer of the last hour or day (the same for every caller) may be when served (0: computed for each call). */
  readonly statsChartsMaxAgeMs: number;
  /** Attempts an event handler gets before the event is dead-lettered. */
  readonly eventMaxAttempts: number;
  /** pino level. */
  readonly logLevel: string;
  /** Gateway HTTP port. */
  readonly port: number;
  /** Folder where audio files live (seeded and imported). */
  readonly mediaDir: string;
  /**
   * A folder of music the catalog workers keep imported: one of them (an advisory lock) imports
   * it at start, then watches it and imports what is added, changed or removed. Empty: none.
   */
  readonly libraryDir: string;
  /** How often the watching worker compares the whole library folder anyway (a missed event). */
  readonly libraryRescanMinutes: number;
  /**
   * Secret that signs session tokens and seals Subsonic credentials. Empty when not set: the
   * users service then keeps a generated one in `tokenSecretFile` (services/users/secret.ts).
   */
  readonly tokenSecret: string;
  /** A secret still accepted while sessions signed with it are rotated out (empty: none). */
  readonly tokenSecretPrevious: string;
  /** Where the generated secret is kept (owner-only file), relative to the repository when not absolute. */
  readonly tokenSecretFile: string;
  /** Lifetime of a session token in seconds. */
  readonly tokenTtlSeconds: number;
  /** How long the gateway trusts a verified token before asking again: the bound on revocation. */
  readonly tokenCacheTtlMs: number;
  /** Client addresses the gateway believes: express's `trust proxy` (false, true, a hop count or addresses). */
  readonly trustProxy: string;
  /**
   * Bearer token that opens `/metrics` and the checks of `/health` (empty: they are open to
   * nobody; the plain status of `/health` is always open).
   */
  readonly opsToken: string;
  /** New accounts one client address may make per hour. */
  readonly registerPerAddressPerHour: number;
  /** New accounts every address together may make per minute. */
  readonly registerPerMinute: number;
  /**
   * Origins besides the gateway's own whose pages may send requests that change something
   * (comma-separated, e.g. `https://player.example.com`); empty: the gateway's own pages only.
   */
  readonly allowedOrigins: string;
  /** Plays one account may post per hour, at every door together (a rate no listener reaches). */
  readonly playsPerHour: number;
  /** Oldest play date accepted, in days before now. */
  readonly playMaxAgeDays: number;
  /** Latest play date accepted, in seconds after now. */
  readonly playMaxAheadSeconds: number;
  /**
   * Whole UTC months of the play log (`history.plays`) kept before the current one: older
   * monthly partitions are dropped. 0 keeps every month for ever.
   */
  readonly playLogRetentionMonths: number;
  /** Most calls in one JSON-RPC batch: at `/rpc`, and on a service's request queue. */
  readonly rpcMaxBatch: number;
  /** `/rpc`: most items in any list parameter of one call. */
  readonly rpcMaxItems: number;
  /** Largest JSON answer of `/rpc` (a whole batch) and of any REST route, in bytes. */
  readonly rpcMaxAnswerBytes: number;
  /** Type of the queues that hold work: quorum (replicated), or classic for brokers without quorum queues. */
  readonly queueType: 'quorum' | 'classic';
  /** How long the event log keeps events: a RabbitMQ duration such as `400D`, `12h` (x-max-age). */
  readonly eventLogMaxAge: string;
  /** Most bytes the event log keeps (0: no limit but the age). */
  readonly eventLogMaxBytes: number;
  /** Size of one segment file of the event log; retention drops whole segments. */
  readonly eventLogSegmentBytes: number;
  /** Streams the event log is split into (common/events/partitions.ts). */
  readonly eventLogPartitions: number;
  /** PostgreSQL pool size per process. */
  readonly dbPoolSize: number;
  /** The ffmpeg program the gateway transcodes with (a name on PATH or a path). */
  readonly transcodeFfmpeg: string;
  /** Transcodes one gateway runs at once; beyond, a stream asking for one is a 503. */
  readonly transcodeMaxConcurrent: number;
  /** Of those, how many one listener (a logged-in user) may hold at once. */
  readonly transcodePerListener: number;
  /** Format of a transcode whose request names none (a player sending only maxBitRate). */
  readonly transcodeFormat: TranscodeFormat;
  /** Bitrate of a transcode whose request names none (a player sending only a format), in kbit/s. */
  readonly transcodeBitrate: number;
  /**
   * Benchmarks only: every RPC handler waits this long before it runs, which makes a worker
   * I/O-bound so the scale-out benchmark measures queue distribution, not CPU. 0 in production.
   */
  readonly handlerDelayMs: number;
  /**
   * Benchmarks only: every projection batch waits this long on its worker's database
   * connection before its transaction, as a round trip to a database on another machine would.
   */
  readonly projectionDbLatencyMs: number;
  /** ListenBrainz's API root (tests point it at a stand-in). */
  readonly listenbrainzUrl: string;
  /** Last.fm's web service root, `.../2.0/` (tests point it at a stand-in). */
  readonly lastfmUrl: string;
  /** Last.fm's page where a user allows an application (`?api_key=...&token=...`). */
  readonly lastfmAuthUrl: string;
  /** This server's Last.fm API key (empty: Last.fm cannot be linked). */
  readonly lastfmApiKey: string;
  /** This server's Last.fm shared secret, which signs every call (`api_sig`). */
  readonly lastfmSecret: string;
  /** How long one call to ListenBrainz or Last.fm may take before it counts as failed. */
  readonly scrobbleTimeoutMs: number;
  /** The longest wait between two tries of a listen that could not be sent. */
  readonly scrobbleBackoffMaxMs: number;
}

/** Formats the gateway transcodes to (gateway/transcode.ts says how). */
export const TRANSCODE_FORMATS = ['mp3', 'opus', 'ogg', 'aac'] as const;
export type TranscodeFormat = (typeof TRANSCODE_FORMATS)[number];

type Env = Record<string, string | undefined>;

interface Spec<T> {
  env: string;
  default: T;
  parse: (raw: string) => T | undefined;
  doc: string;
  /** The value may hold a password: a bad one is named, never repeated. */
  secret?: true;
}

const int =
  (min: number, max: number) =>
  (raw: string): number | undefined => {
    if (!/^-?\d+$/.test(raw.trim())) return undefined;
    const n = Number(raw);
    return n >= min && n <= max ? n : undefined;
  };
const str = (raw: string): string | undefined => (raw.length > 0 ? raw : undefined);
/**
 * Values of TOKEN_SECRET printed in this project's docs and examples: anyone could sign tokens
 * with them, so they are refused (test/security.test.ts checks every documented value is here).
 */
export const PUBLISHED_SECRETS: readonly string[] = ['change-me-in-production'];
export const MIN_SECRET_BYTES = 32;

/** A token secret long enough to resist guessing and not one anybody could read in the docs. */
export const isAcceptableSecret = (secret: string): boolean =>
  Buffer.byteLength(secret, 'utf8') >= MIN_SECRET_BYTES && !PUBLISHED_SECRETS.includes(secret);

const secret = (raw: string): string | undefined => (isAcceptableSecret(raw) ? raw : undefined);
const trustProxy = (raw: string): string | undefined =>
  /^(true|false|\d{1,2}|[\w.:/,\s-]{1,500})$/.test(raw.trim()) ? raw.trim() : undefined;
const httpUrl = (raw: string): string | undefined => {
  try {
    const u = new URL(raw);
    return u.protocol === 'http:' || u.protocol === 'https:' ? raw : undefined;
  } catch {
    return undefined;
  }
};
const level = (raw: string): string | undefined =>
  ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].includes(raw) ? raw : undefined;

const postgresUrl = (raw: string): string | undefined => {
  try {
    const u = new URL(raw);
    return u.protocol === 'postgres:' || u.protocol === 'postgresql:' ? raw : undefined;
  } catch {
    return undefined;
  }
};

/**
 * The services that own a schema: SYSTEM's list (common/contracts), which the framework may not
 * import; test/system-list.test.ts checks this copy against it.
 */
export const DATABASE_OWNERS = ['catalog', 'users', 'playlists', 'history', 'stats', 'scrobbler'] as const;
export type DatabaseOwner = (typeof DATABASE_OWNERS)[number];

function serviceDatabase(service: DatabaseOwner): Spec<string> {
  return {
    env: `${service.toUpperCase()}_DATABASE_URL`,
    default: '',
    parse: postgresUrl,
    doc: `PostgreSQL URL of the ${service} service's own server (default DATABASE_URL)`,
    secret: true,
  };
}

/**
 * The PostgreSQL URL a service keeps its schema on: `<SERVICE>_DATABASE_URL`, or DATABASE_URL.
 * No service reads another's tables, so each may live on a server of its own.
 */
export function databaseUrlFor(config: Config, service: string): string {
  const own = (DATABASE_OWNERS as readonly string[]).includes(service)
    ? config[`${service as DatabaseOwner}DatabaseUrl`]
    : '';
  return own || config.databaseUrl;
}

/** Most broker nodes one AMQP_URL may list. */
const MAX_BROKER_NODES = 16;

/**
 * The node URLs of an AMQP_URL value (one URL, or a comma-separated list), or undefined when
 * one of them is not an amqp:// or amqps:// URL with a host.
 */
export function parseAmqpUrls(raw: string): string[] | undefined {
  const urls = raw.split(',').map((u) => u.trim());
  if (urls.length > MAX_BROKER_NODES) return undefined;
  for (const url of urls) {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      return undefined;
    }
    if ((parsed.protocol !== 'amqp:' && parsed.protocol !== 'amqps:') || !parsed.hostname) return undefined;
  }
  return urls;
}

/** Every variable the system reads, with its default and meaning (docs/CONFIGURATION.md mirrors this, checked by test/security.test.ts). */
export const configSpec: { [K in keyof Config]: Spec<Config[K]> } = {
  amqpUrl: {
    env: 'AMQP_URL',
    default: 'amqp://guest:guest@127.0.0.1:5672',
    parse: (raw) => parseAmqpUrls(raw)?.join(','),
    doc: `RabbitMQ URL, or a comma-separated list of up to ${MAX_BROKER_NODES} amqp:// or amqps:// node URLs`,
    secret: true,
  },
  amqpHeartbeatSeconds: {
    env: 'AMQP_HEARTBEAT',
    default: 5,
    parse: int(1, 600),
    doc: 'AMQP heartbeat in seconds (1..600)',
  },
  amqpNamespace: {
    env: 'AMQP_NAMESPACE',
    default: '',
    parse: (raw) => (/^[a-z0-9_-]{1,40}$/.test(raw) ? raw : undefined),
    doc: 'queue/exchange name prefix (lower-case letters, digits, _ and -)',
  },
  brokerUsers: {
    env: 'BROKER_USERS',
    default: true,
    parse: (raw) => (raw === 'true' ? true : raw === 'false' ? false : undefined),
    doc: 'broker users per kind of process (true or false)',
  },
  brokerSecretFile: {
    env: 'BROKER_SECRET_FILE',
    default: 'data/secrets/broker-secret',
    parse: str,
    doc: 'file of the generated broker secret',
  },
  brokerManagementUrl: {
    env: 'BROKER_MANAGEMENT_URL',
    default: '',
    parse: (raw) => {
      try {
        const u = new URL(raw);
        return u.protocol === 'http:' || u.protocol === 'https:' ? raw.replace(/\/+$/, '') : undefined;
      } catch {
        return undefined;
      }
    },
    doc: 'RabbitMQ management API URL (http:// or https://)',
    secret: true,
  },
  databaseUrl: {
    env: 'DATABASE_URL',
    default: 'postgres://music:music@127.0.0.1:5432/music',
    parse: postgresUrl,
    doc: 'PostgreSQL URL',
    secret: true,
  },
  catalogDatabaseUrl: serviceDatabase('catalog'),
  usersDatabaseUrl: serviceDatabase('users'),
  playlistsDatabaseUrl: serviceDatabase('playlists'),
  historyDatabaseUrl: serviceDatabase('history'),
  statsDatabaseUrl: serviceDatabase('stats'),
  scrobblerDatabaseUrl: serviceDatabase('scrobbler'),
  prefetch: {
    env: 'PREFETCH',
    default: 64,
    parse: int(1, 10_000),
    doc: 'unacked messages per consumer channel',
  },
  rpcTimeoutMs: { env: 'RPC_TIMEOUT_MS', default: 5000, parse: int(1, 600_000), doc: 'RPC call timeout' },
  rpcReconnectWaitMs: {
    env: 'RPC_RECONNECT_WAIT_MS',
    default: 500,
    parse: int(0, 10_000),
    doc: 'how long a call made while the broker connection is being made again waits for it before failing',
  },
  trackNamesTtlMs: {
    env: 'TRACK_NAMES_TTL_MS',
    default: 60_000,
    parse: int(0, 3_600_000),
    doc: 'how long history and stats pages show a track as it was before asking the catalog again',
  },
  statsChartsMaxAgeMs: {
    env: 'STATS_CHARTS_MAX_AGE_MS',
    default: 2000,
    parse: int(0, 60_000),
    doc: 'how old the top tracks of the last hour or day may be when served: one answer for every caller, computed again in the background',
  },
  eventMaxAttempts: {
    env: 'EVENT_MAX_ATTEMPTS',
    default: 5,
    parse: int(1, 100),
    doc: 'attempts before an event is dead-lettered',
  },
  logLevel: { env: 'LOG_LEVEL', default: 'info', parse: level, doc: 'pino log level' },
  port: { env: 'PORT', default: 8080, parse: int(0, 65_535), doc: 'gateway HTTP port' },
  mediaDir: { env: 'MEDIA_DIR', default: 'data/media', parse: str, doc: 'folder of audio files' },
  libraryDir: {
    env: 'LIBRARY_DIR',
    default: '',
    parse: (raw) => raw,
    doc: 'music folder of library 1 the catalog workers import and watch (empty: none)',
  },
  libraryRescanMinutes: {
    env: 'LIBRARY_RESCAN_MINUTES',
    default: 60,
    parse: int(1, 10_080),
    doc: 'minutes between full rescans of LIBRARY_DIR (1..10080)',
  },
  tokenSecret: {
    env: 'TOKEN_SECRET',
    default: '',
    parse: secret,
    doc: `token secret (at least ${MIN_SECRET_BYTES} bytes, and not a value printed in the docs)`,
  },
  tokenSecretPrevious: {
    env: 'TOKEN_SECRET_PREVIOUS',
    default: '',
    parse: secret,
    doc: `previous token secret (at least ${MIN_SECRET_BYTES} bytes, and not a value printed in the docs)`,
  },
  tokenSecretFile: {
    env: 'TOKEN_SECRET_FILE',
    default: 'data/secrets/token-secret',
    parse: str,
    doc: 'file of the generated token secret',
  },
  tokenTtlSeconds: {
    env: 'TOKEN_TTL_SECONDS',
    default: 7 * 24 * 3600,
    parse: int(1, 365 * 24 * 3600),
    doc: 'session token lifetime',
  },
  tokenCacheTtlMs: {
    env: 'TOKEN_CACHE_TTL_MS',
    default: 5000,
    parse: int(0, 300_000),
    doc: 'how long a verified token is trusted by a gateway, in ms',
  },
  trustProxy: {
    env: 'TRUST_PROXY',
    default: 'false',
    parse: trustProxy,
    doc: 'express trust proxy setting (false, true, a hop count, or addresses/subnets)',
  },
  allowedOrigins: {
    env: 'ALLOWED_ORIGINS',
    default: '',
    parse: (raw) => {
      const origins = raw.split(',').map((o) => o.trim());
      const ok = origins.every((o) => {
        try {
          const u = new URL(o);
          return (u.protocol === 'http:' || u.protocol === 'https:') && u.origin === o;
        } catch {
          return false;
        }
      });
      return ok && origins.length <= 50 ? origins.join(',') : undefined;
    },
    doc: 'comma-separated list of origins such as https://player.example.com (scheme, host, port; no path)',
  },
  opsToken: {
    env: 'OPS_TOKEN',
    default: '',
    parse: (raw) => (/^[\x21-\x7e]{16,200}$/.test(raw) ? raw : undefined),
    doc: 'operations token (16 to 200 printable characters, no spaces)',
    secret: true,
  },
  registerPerAddressPerHour: {
    env: 'REGISTER_PER_ADDRESS_PER_HOUR',
    default: 10,
    parse: int(1, 1_000_000),
    doc: 'new accounts per client address per hour',
  },
  registerPerMinute: {
    env: 'REGISTER_PER_MINUTE',
    default: 60,
    parse: int(1, 1_000_000),
    doc: 'new accounts per minute, every address together',
  },
  playsPerHour: {
    env: 'PLAYS_PER_HOUR',
    default: 1000,
    parse: int(1, 10_000_000),
    doc: 'plays one account may post per hour',
  },
  playMaxAgeDays: {
    env: 'PLAY_MAX_AGE_DAYS',
    default: 30,
    parse: int(1, 3650),
    doc: 'oldest accepted play date, in days',
  },
  playMaxAheadSeconds: {
    env: 'PLAY_MAX_AHEAD_SECONDS',
    default: 300,
    parse: int(0, 86_400),
    doc: 'latest accepted play date, in seconds ahead',
  },
  playLogRetentionMonths: {
    env: 'PLAY_LOG_RETENTION',
    default: 0,
    parse: (raw) =>
      raw === 'forever' || raw === '0'
        ? 0
        : /^\d{1,4}M$/.test(raw)
          ? int(2, 1200)(raw.slice(0, -1))
          : undefined,
    doc: 'play log retention in months (2M..1200M), or 0 or forever (keep every month)',
  },
  rpcMaxBatch: {
    env: 'RPC_MAX_BATCH',
    default: 20,
    parse: int(1, 1000),
    doc: 'calls per JSON-RPC batch (/rpc and service queues)',
  },
  rpcMaxItems: {
    env: 'RPC_MAX_ITEMS',
    default: 100,
    parse: int(1, 10_000),
    doc: '/rpc items per list parameter',
  },
  rpcMaxAnswerBytes: {
    env: 'RPC_MAX_ANSWER_BYTES',
    default: 1024 * 1024,
    parse: int(1024, 256 * 1024 * 1024),
    doc: 'largest JSON answer (/rpc and REST) in bytes',
  },
  queueType: {
    env: 'QUEUE_TYPE',
    default: 'quorum',
    parse: (raw) => (raw === 'quorum' || raw === 'classic' ? raw : undefined),
    doc: 'queue type (quorum or classic)',
  },
  eventLogMaxAge: {
    env: 'EVENT_LOG_MAX_AGE',
    default: '400D',
    parse: (raw) => (/^\d{1,6}(Y|M|D|h|m|s)$/.test(raw) ? raw : undefined),
    doc: 'event log retention (a number and one of Y, M, D, h, m, s, e.g. 400D)',
  },
  eventLogMaxBytes: {
    env: 'EVENT_LOG_MAX_BYTES',
    default: 0,
    parse: int(0, Number.MAX_SAFE_INTEGER),
    doc: 'event log size limit in bytes (0: none)',
  },
  eventLogSegmentBytes: {
    env: 'EVENT_LOG_SEGMENT_BYTES',
    default: 100_000_000,
    parse: int(4096, 3_000_000_000),
    doc: 'event log segment size in bytes',
  },
  eventLogPartitions: {
    env: 'EVENT_LOG_PARTITIONS',
    default: DEFAULT_PARTITIONS,
    parse: int(1, MAX_PARTITIONS),
    doc: 'streams the event log is split into (changing it: docs/ARCHITECTURE.md)',
  },
  dbPoolSize: {
    env: 'DB_POOL_SIZE',
    default: 10,
    parse: int(1, 1000),
    doc: 'PostgreSQL pool size per process',
  },
  transcodeFfmpeg: {
    env: 'TRANSCODE_FFMPEG',
    default: 'ffmpeg',
    parse: str,
    doc: 'ffmpeg program (name or path)',
  },
  transcodeMaxConcurrent: {
    env: 'TRANSCODE_MAX_CONCURRENT',
    default: 4,
    parse: int(1, 1000),
    doc: 'transcodes at once per gateway',
  },
  transcodePerListener: {
    env: 'TRANSCODE_PER_LISTENER',
    default: 2,
    parse: int(1, 1000),
    doc: 'transcodes one listener may hold at once',
  },
  transcodeFormat: {
    env: 'TRANSCODE_FORMAT',
    default: 'opus',
    parse: (raw) => TRANSCODE_FORMATS.find((f) => f === raw),
    doc: `default transcoding format (${TRANSCODE_FORMATS.join(', ')})`,
  },
  transcodeBitrate: {
    env: 'TRANSCODE_BITRATE',
    default: 128,
    parse: int(16, 320),
    doc: 'default transcoding bitrate in kbit/s (16-320)',
  },
  handlerDelayMs: {
    env: 'HANDLER_DELAY_MS',
    default: 0,
    parse: int(0, 60_000),
    doc: 'benchmarks only: extra wait in every RPC handler, in ms',
  },
  projectionDbLatencyMs: {
    env: 'PROJECTION_DB_LATENCY_MS',
    default: 0,
    parse: int(0, 60_000),
    doc: "benchmarks only: extra wait before every statement of a projection batch's transaction and before every batch an event subscriber handles, in ms",
  },
  listenbrainzUrl: {
    env: 'LISTENBRAINZ_URL',
    default: 'https://api.listenbrainz.org',
    parse: httpUrl,
    doc: 'ListenBrainz API root (http:// or https://)',
  },
  lastfmUrl: {
    env: 'LASTFM_URL',
    default: 'https://ws.audioscrobbler.com/2.0/',
    parse: httpUrl,
    doc: 'Last.fm web service root (http:// or https://)',
  },
  lastfmAuthUrl: {
    env: 'LASTFM_AUTH_URL',
    default: 'https://www.last.fm/api/auth/',
    parse: httpUrl,
    doc: "Last.fm's page where a user allows an application (http:// or https://)",
  },
  lastfmApiKey: {
    env: 'LASTFM_API_KEY',
    default: '',
    parse: (raw) => (/^[\x21-\x7e]{1,100}$/.test(raw) ? raw : undefined),
    doc: 'Last.fm API key (1-100 printable characters)',
  },
  lastfmSecret: {
    env: 'LASTFM_SECRET',
    default: '',
    parse: (raw) => (/^[\x21-\x7e]{1,100}$/.test(raw) ? raw : undefined),
    doc: 'Last.fm shared secret (1-100 printable characters)',
    secret: true,
  },
  scrobbleTimeoutMs: {
    env: 'SCROBBLE_TIMEOUT_MS',
    default: 10_000,
    parse: int(100, 120_000),
    doc: 'timeout of one call to ListenBrainz or Last.fm, in ms (100..120000)',
  },
  scrobbleBackoffMaxMs: {
    env: 'SCROBBLE_BACKOFF_MAX_MS',
    default: 300_000,
    parse: int(100, 86_400_000),
    doc: 'longest wait between two tries of an unsent listen, in ms (100..86400000)',
  },
};

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Reads the configuration; throws ConfigError naming every bad variable. */
export function loadConfig(env: Env = process.env): Config {
  const out: Record<string, unknown> = {};
  const problems: string[] = [];
  for (const [key, spec] of Object.entries(configSpec) as [keyof Config, Spec<unknown>][]) {
    const raw = env[spec.env];
    if (raw === undefined || raw === '') {
      out[key] = spec.default;
      continue;
    }
    const value = spec.parse(raw);
    if (value === undefined) {
      const shown = spec.secret ? spec.env : `${spec.env}=${JSON.stringify(raw)}`;
      problems.push(`${shown} is not a valid ${spec.doc}`);
    } else out[key] = value;
  }
  if (problems.length > 0) throw new ConfigError(`invalid configuration: ${problems.join('; ')}`);
  return Object.freeze(out as unknown as Config);
}

let cached: Config | undefined;

/** The process-wide configuration, loaded on first use. */
export function config(): Config {
  cached ??= loadConfig();
  return cached;
}
