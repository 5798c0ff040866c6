/**
 * A play a player keeps (on disk, in local storage) until the gateway has taken it, and the one
 * check of what it reads back. Shared by the terminal client (client/store.ts) and the web
 * player (web/src/player/plays.ts). It imports nothing, so the browser build can bundle it;
 * common/contracts/plays.ts, which re-exports it, needs node:crypto.
 */
export interface KeptPlay {
  userId: string;
  trackId: string;
  /** Whole milliseconds, as the gateway takes them. */
  msPlayed: number;
  playedAt: string;
  /** Chosen by the player: sending the play twice counts it once. */
  playId: string;
}

/** Whether `v`, read back from storage, is a play the gateway may be sent. */
export function isKeptPlay(v: unknown): v is KeptPlay {
  const p = v as Partial<KeptPlay> | null;
  return (
    typeof p === 'object' &&
    p !== null &&
    typeof p.userId === 'string' &&
    typeof p.trackId === 'string' &&
    Number.isInteger(p.msPlayed) &&
    (p.msPlayed as number) >= 0 &&
    typeof p.playedAt === 'string' &&
    typeof p.playId === 'string' &&
    /^[0-9a-f-]{36}$/.test(p.playId)
  );
}
