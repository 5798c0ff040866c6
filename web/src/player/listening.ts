/**
 * How long a track was really listened to: the sum of the small steps the playback position
 * makes while it plays. A seek is a jump, not listening, so it does not count; pausing stops
 * the steps. Pure logic, fed by the audio element's `timeupdate` and `seeking` events.
 */

/** A track skipped after this much listening still counts as a play. */
export const SKIP_REPORT_MS = 30_000;

/** Position steps larger than this are jumps (timeupdate fires every 15-250 ms while playing). */
const MAX_STEP_MS = 1500;

export class ListenMeter {
  private last: number | null = null;
  private total = 0;

  /** The position now, while playing. */
  at(positionMs: number): void {
    if (this.last !== null) {
      const step = positionMs - this.last;
      if (step > 0 && step <= MAX_STEP_MS) this.total += step;
    }
    this.last = positionMs;
  }

  /** Playback jumped (a seek): the next position starts a new stretch. */
  jumped(): void {
    this.last = null;
  }

  get listenedMs(): number {
    return Math.round(this.total);
  }
}

/** Why a track stopped playing. */
export type StopReason = 'ended' | 'skipped';

/** Whether a track that stopped counts as a play: one that played to its end, or was skipped after 30 s. */
export function countsAsPlay(reason: StopReason, listenedMs: number): boolean {
  return reason === 'ended' ? listenedMs > 0 : listenedMs >= SKIP_REPORT_MS;
}
