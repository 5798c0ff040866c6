import pino, { type Logger } from 'pino';
import { config } from './config.js';
import { currentTraceId } from './trace.js';

export type { Logger };

/** Paths never written to logs, whatever object they appear in. */
export const REDACT_PATHS = [
  'password',
  'newPassword',
  'token',
  'authorization',
  '*.password',
  '*.newPassword',
  '*.token',
  '*.authorization',
  '*.*.password',
  '*.*.token',
  // A ListenBrainz token is `token`; a Last.fm session key or request token, these.
  'sessionKey',
  'authToken',
  '*.sessionKey',
  '*.authToken',
  '*.*.sessionKey',
  '*.*.authToken',
  'headers.authorization',
  'req.headers.authorization',
];

/** Builds a root logger; the trace id of the current async context is added to every line. */
export function createLogger(name: string, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      name,
      level: config().logLevel,
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      mixin() {
        const traceId = currentTraceId();
        return traceId ? { traceId } : {};
      },
    },
    destination,
  );
}

let root: Logger | undefined;

/** The process's root logger; modules take `rootLogger().child({ module })`. */
export function rootLogger(): Logger {
  root ??= createLogger(process.env.SERVICE_NAME ?? 'music');
  return root;
}

export function setRootLogger(logger: Logger): void {
  root = logger;
}
