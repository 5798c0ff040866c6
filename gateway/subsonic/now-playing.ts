import type { Track } from '../../common/contracts/catalog.js';
import type { Caller } from '../../common/rpc/contract.js';

export interface NowPlayingEntry {
  username: string;
  track: Track;
  playerId: number;
  playerName: string;
  startedAt: number;
}

/** How long past the end of its track an entry stays, for pauses and slow next scrobbles. */
const GRACE_MS = 2 * 60_000;

/**
 * What each user's players are playing, as reported by `scrobble?submission=false` and
 * `stream`. Kept in this process's memory only: it is a passing status, and with several
 * gateways each shows what its own clients reported.
 */
export class NowPlaying {
  private readonly entries = new Map<string, NowPlayingEntry>();
  private nextPlayerId = 1;
  private readonly playerIds = new Map<string, number>();

  constructor(private readonly now: () => number = Date.now) {}

  set(caller: Caller, client: string, track: Track): void {
    const key = `${caller.userId}\n${client}`;
    let playerId = this.playerIds.get(key);
    if (playerId === undefined) {
      playerId = this.nextPlayerId++;
      this.playerIds.set(key, playerId);
    }
    this.entries.set(key, {
      username: caller.username,
      track,
      playerId,
      playerName: client,
      startedAt: this.now(),
    });
  }

  /** The live entries, most recent first; expired ones are forgotten. */
  list(): NowPlayingEntry[] {
    const now = this.now();
    for (const [key, e] of this.entries) {
      if (e.startedAt + e.track.durationMs + GRACE_MS < now) {
        this.entries.delete(key);
        this.playerIds.delete(key);
      }
    }
    return [...this.entries.values()].sort((a, b) => b.startedAt - a.startedAt);
  }
}
