/**
 * How the client delivers plays: each is kept on disk (store.ts) before it is sent, and every
 * kept play of the user goes out with the next one, in reports the gateway takes in one
 * request; a play id makes a play sent twice count once. What the gateway cannot take now
 * stays kept; what it refuses for good is dropped, one play at a time.
 */
import { type Api, ApiError, isTransient, MAX_PLAYS_PER_REPORT } from './api.js';
import type { Style } from './render.js';
import type { Store, UnsentPlay } from './store.js';

/** What became of the kept plays on one attempt to send them. */
export interface Delivery {
  sent: number;
  /** Still kept, to be sent next time. */
  kept: number;
  /** Refused by the gateway for good (e.g. a track it no longer has). */
  dropped: number;
  /** Why the kept ones could not be sent now. */
  error?: string;
}

/**
 * Sends the user's kept plays, oldest first, in reports of up to MAX_PLAYS_PER_REPORT. When
 * the gateway cannot take a report now (503, unreachable, the login expired) sending stops
 * and the plays stay kept for next time. A report it refuses outright is sent again one play
 * at a time, so a single bad play is dropped and the others still count.
 */
export async function sendUnsentPlays(api: Api, store: Store, userId: string): Promise<Delivery> {
  const plays = store.unsentPlays(userId);
  let sent = 0;
  let dropped = 0;
  const report = (batch: readonly UnsentPlay[]) =>
    api.reportPlays(
      batch.map(({ trackId, msPlayed, playedAt, playId }) => ({ trackId, msPlayed, playedAt, playId })),
    );
  /**
   * Anything but the gateway refusing the plays themselves: they wait for next time (429: the
   * account posted more plays than it may for now).
   */
  const keepForLater = (err: unknown) =>
    !(err instanceof ApiError) || isTransient(err) || err.status === 401 || err.status === 429;
  try {
    for (let i = 0; i < plays.length; i += MAX_PLAYS_PER_REPORT) {
      const batch = plays.slice(i, i + MAX_PLAYS_PER_REPORT);
      try {
        await report(batch);
        store.forgetPlays(batch);
        sent += batch.length;
        continue;
      } catch (err) {
        if (keepForLater(err)) throw err;
      }
      for (const play of batch) {
        try {
          await report([play]);
          sent++;
        } catch (err) {
          if (keepForLater(err)) throw err;
          dropped++;
        }
        store.forgetPlays([play]);
      }
    }
    return { sent, dropped, kept: 0 };
  } catch (err) {
    return { sent, dropped, kept: plays.length - sent - dropped, error: (err as Error).message };
  }
}

/** A line about kept plays, when there is something to say. */
export function deliveryNote(d: Delivery, style: Style): string {
  const plays = (n: number) => `${n} play${n === 1 ? '' : 's'}`;
  const lines: string[] = [];
  if (d.kept > 0) {
    lines.push(`not reported yet (${d.error}); ${plays(d.kept)} kept here, sent with your next play`);
  }
  if (d.dropped > 0) lines.push(`${plays(d.dropped)} kept earlier were refused by the gateway and dropped`);
  return lines.map((l) => `\n${style.dim(l)}`).join('');
}
