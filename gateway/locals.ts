import type { Caller } from '../common/index.js';

/** What the gateway's middleware attaches to each response, typed for every handler. */
declare global {
  namespace Express {
    interface Locals {
      /** Set by the trace middleware before anything else runs. */
      traceId: string;
      /** The authenticated user, when the request carried a valid bearer token. */
      caller?: Caller;
      /** That bearer token (logout forgets it at once). */
      token?: string;
    }
  }
}
