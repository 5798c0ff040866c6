import type { Router } from 'express';
import type { Logger } from 'pino';
import type { EventPublisher } from '../../common/events/publisher.js';
import type { Services } from '../services.js';

/** What route modules get: typed service clients and the event publisher. */
export interface RouteContext {
  router: Router;
  services: Services;
  publisher: EventPublisher;
  log: Logger;
  /** Longest wait for the broker to confirm a published event before answering 503. */
  publishTimeoutMs: number;
}
