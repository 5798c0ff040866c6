/**
 * One typed configuration object, read once from the environment, validated, then frozen.
 * A bad value stops the process with a message naming the variable.
 */

export interface Config {
  /** AMQP URL of the broker. */
  readonly amqpUrl: string;
  /**
   * Prefix for every queue and exchange name; empty in production. Lets a second copy of the
   * system (a test run, a benchmark) share a broker without seeing the first one's messages.
   */
  readonly amqpNamespace: string;
  /** PostgreSQL connection string. */
  readonly databaseUrl: string;
  /** Messages a worker holds unacknowledged at once (RPC and events). */
  readonly prefetch: number;
  /** Default RPC call timeout in milliseconds. */
  readonly rpcTimeoutMs: number;
  /** Attempts an event handler gets before the event is dead-lettered. */
  readonly eventMaxAttempts: number;
  /** pino level. */
  readonly logLevel: string;
  /** Gateway HTTP port. */
  readonly port: number;
  /** Folder where audio files live (seeded and imported). */
  readonly mediaDir: string;
  /** Secret used to sign session tokens. */
  readonly tokenSecret: string;
  /** Lifetime of a session token in seconds. */
  readonly tokenTtlSeconds: number;
  /** PostgreSQL pool size per process. */
  readonly dbPoolSize: number;
  /**
   * Benchmarks only: every RPC handler waits this long before it runs, which makes a worker
   * I/O-bound so the scale-out benchmark measures queue distribution, not CPU. 0 in production.
   */
  readonly handlerDelayMs: number;
}

type Env = Record<string, string | undefined>;

interface Spec<T> {
  env: string;
  default: T;
  parse: (raw: string) => T | undefined;
  doc: string;
}

const int =
  (min: number, max: number) =>
  (raw: string): number | undefined => {
    if (!/^-?\d+$/.test(raw.trim())) return undefined;
    const n = Number(raw);
    return n >= min && n <= max ? n : undefined;
  };
const str = (raw: string): string | undefined => (raw.length > 0 ? raw : undefined);
const level = (raw: string): string | undefined =>
  ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].includes(raw) ? raw : undefined;

/** Every variable the system reads, with its default and meaning (the README table mirrors this). */
export const configSpec: { [K in keyof Config]: Spec<Config[K]> } = {
  amqpUrl: { env: 'AMQP_URL', default: 'amqp://guest:guest@127.0.0.1:5672', parse: str, doc: 'RabbitMQ URL' },
  amqpNamespace: {
    env: 'AMQP_NAMESPACE',
    default: '',
    parse: (raw) => (/^[a-z0-9_-]{1,40}$/.test(raw) ? raw : undefined),
    doc: 'queue/exchange name prefix (lower-case letters, digits, _ and -)',
  },
  databaseUrl: {
    env: 'DATABASE_URL',
    default: 'postgres://music:music@127.0.0.1:5432/music',
    parse: str,
    doc: 'PostgreSQL URL',
  },
  prefetch: { env: 'PREFETCH', default: 64, parse: int(1, 10_000), doc: 'unacked messages per worker' },
  rpcTimeoutMs: { env: 'RPC_TIMEOUT_MS', default: 5000, parse: int(1, 600_000), doc: 'RPC call timeout' },
  eventMaxAttempts: {
    env: 'EVENT_MAX_ATTEMPTS',
    default: 5,
    parse: int(1, 100),
    doc: 'attempts before an event is dead-lettered',
  },
  logLevel: { env: 'LOG_LEVEL', default: 'info', parse: level, doc: 'pino log level' },
  port: { env: 'PORT', default: 8080, parse: int(0, 65_535), doc: 'gateway HTTP port' },
  mediaDir: { env: 'MEDIA_DIR', default: 'data/media', parse: str, doc: 'folder of audio files' },
  tokenSecret: {
    env: 'TOKEN_SECRET',
    default: 'change-me-in-production',
    parse: str,
    doc: 'HMAC secret for session tokens',
  },
  tokenTtlSeconds: {
    env: 'TOKEN_TTL_SECONDS',
    default: 7 * 24 * 3600,
    parse: int(1, 365 * 24 * 3600),
    doc: 'session token lifetime',
  },
  dbPoolSize: {
    env: 'DB_POOL_SIZE',
    default: 10,
    parse: int(1, 1000),
    doc: 'PostgreSQL pool size per process',
  },
  handlerDelayMs: {
    env: 'HANDLER_DELAY_MS',
    default: 0,
    parse: int(0, 60_000),
    doc: 'benchmarks only: extra wait in every RPC handler, in ms',
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
    if (value === undefined) problems.push(`${spec.env}=${JSON.stringify(raw)} is not a valid ${spec.doc}`);
    else out[key] = value;
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
