import { z } from 'zod';
import { defineContract, subscribe, userMethod } from '../rpc/contract.js';
import { Events } from './events.js';

/**
 * Scrobbling: a user's plays sent on to ListenBrainz and Last.fm (services/scrobbler). The
 * tokens a user gives are sealed where they are kept and never part of an answer.
 */

export const SCROBBLE_SERVICES = ['listenbrainz', 'lastfm'] as const;
export type ScrobbleService = (typeof SCROBBLE_SERVICES)[number];

/** What one link is doing; `broken` once the service refused its credentials (relink to resume). */
export type LinkState = 'ok' | 'broken';

/** "Send my earlier plays": how far the reading of the user's part of the event log got. */
export interface EarlierPlays {
  state: 'reading' | 'done';
  /** Events of the user's partition read so far, of `total` when it began. */
  read: number;
  total: number;
  /** The user's plays found and queued to send (before counting rules and age limits). */
  queued: number;
  startedAt: string;
  finishedAt: string | null;
}

export interface ScrobbleLink {
  service: ScrobbleService;
  /** The account name at the service (ListenBrainz's user name, Last.fm's). */
  account: string | null;
  state: LinkState;
  /** Why the link is broken, in words for the user ("ListenBrainz refused your token"). */
  problem: string | null;
  linkedAt: string;
  /** Listens waiting to go, accepted by the service, not sent by the rules, refused one by one. */
  counts: { queued: number; sent: number; skipped: number; refused: number };
  lastSentAt: string | null;
  /** When the next try of a listen that could not be sent is due (an outage, a rate limit). */
  retryAt: string | null;
  earlier: EarlierPlays | null;
}

export interface ScrobbleStatus {
  links: ScrobbleLink[];
  /** Whether this server has a Last.fm API key (without one, Last.fm cannot be linked). */
  lastfmAvailable: boolean;
}

/** Bounds of what a user gives: a ListenBrainz token is a UUID, a Last.fm key or token 32 hex characters. */
const credential = z
  .string()
  .trim()
  .min(1)
  .max(200)
  .regex(/^[\x21-\x7e]+$/, 'must be printable characters without spaces');

export const scrobblerContract = defineContract(
  'scrobbler',
  {
    /** The caller's links, each with its state and counts. */
    status: userMethod(z.strictObject({})).returns<ScrobbleStatus>(),
    /**
     * Links ListenBrainz (`token`, checked with the service's token validation now) or Last.fm
     * (a `sessionKey`, or the `authToken` of the web flow `lastfmAuthorize` began, which is
     * exchanged for a session key now). Plays from now on are sent; linking again replaces
     * the credentials and mends a broken link (its waiting listens go).
     */
    link: userMethod(
      z.union([
        z.strictObject({ service: z.literal('listenbrainz'), token: credential }),
        z.strictObject({ service: z.literal('lastfm'), sessionKey: credential }),
        z.strictObject({ service: z.literal('lastfm'), authToken: credential }),
      ]),
    ).returns<ScrobbleLink>(),
    /** Ends a link at once: its credentials and its unsent listens are deleted. */
    unlink: userMethod(z.strictObject({ service: z.enum(SCROBBLE_SERVICES) })).returns<{
      unlinked: boolean;
    }>(),
    /**
     * Last.fm's web flow, first step: a request token (auth.getToken) and the page where the
     * user allows this server; then `link` with that `authToken`.
     */
    lastfmAuthorize: userMethod(z.strictObject({})).returns<{ url: string; authToken: string }>(),
    /**
     * Sends the plays the event log holds from before the link (ListenBrainz as `import`;
     * Last.fm only those of the last 14 days). Resumable: asking again while it runs, or
     * after a restart, carries on where it got; once done, it reads again only what came since.
     */
    sendEarlier: userMethod(z.strictObject({ service: z.enum(SCROBBLE_SERVICES) })).returns<EarlierPlays>(),
  },
  {
    subscriptions: {
      /** "Now playing" goes to the linked services when a player reports a track starting. */
      nowPlaying: subscribe(Events.playbackStarted, { retryDelaysMs: [1000] }),
    },
  },
);
export type ScrobblerContract = typeof scrobblerContract;
