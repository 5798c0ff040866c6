import type { Router } from 'express';
import type { Logger } from 'pino';
import type { PlayAllowance, PlayDateWindow } from '../../common/contracts/index.js';
import type { EventPublisher } from '../../common/index.js';
import type { Authenticator } from '../auth.js';
import type { CoverCache } from '../covers.js';
import type { Services } from '../services.js';
import type { Transcoder } from '../transcode.js';

/** What route modules get: typed service clients, the authenticator and the event publisher. */
export interface RouteContext {
  router: Router;
  services: Services;
  auth: Authenticator;
  publisher: EventPublisher;
  log: Logger;
  /** Longest wait for the broker to confirm a published event before answering 503. */
  publishTimeoutMs: number;
  /** How old or new a play's date may be. */
  playDates: PlayDateWindow;
  /** The gateway's ffmpeg runner for transcoded streams. */
  transcoder: Transcoder;
  /** Generated cover images, shared with the Subsonic API (its image URLs point here). */
  covers: CoverCache;
  /** How many plays each account may still post (shared with the Subsonic API). */
  plays: PlayAllowance;
}
