/**
 * What the client remembers between runs, so one-shot commands reuse the login and `#n`
 * refers to the last listing: session.json (token), state.json (last listing, queue) and
 * unsent-plays/ (plays the gateway has not accepted yet), in $MUSIC_CLIENT_HOME or
 * ~/.config/music-client.
 */
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { isKeptPlay, type KeptPlay } from '../common/contracts/index.js';

export interface SavedSession {
  gateway: string;
  token: string;
  expiresAt: string;
  user: { id: string; username: string };
}

export interface ClientState {
  /** Track ids of the last listing, so `play #3` means its third row. */
  listing: string[];
  /** Tracks waiting for `next`. */
  queue: string[];
}

/** A play kept on disk until the gateway accepts it; `playId` makes sending it twice harmless. */
export type UnsentPlay = KeptPlay;

export function clientHome(): string {
  if (process.env.MUSIC_CLIENT_HOME) return process.env.MUSIC_CLIENT_HOME;
  const config = process.env.XDG_CONFIG_HOME || join(homedir(), '.config');
  return join(config, 'music-client');
}

function readJson(path: string): unknown {
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch {
    // Missing or damaged: start afresh rather than refuse to run.
    return undefined;
  }
}

/** Written whole to a temporary file and renamed, so a crash never leaves half a file; private to the user. */
function writeJson(path: string, value: unknown): void {
  mkdirSync(join(path, '..'), { recursive: true, mode: 0o700 });
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(value, null, 2)}\n`, { mode: 0o600 });
  renameSync(tmp, path);
}

export class Store {
  private readonly sessionPath: string;
  private readonly statePath: string;

  private readonly unsentDir: string;

  constructor(
    readonly gateway: string,
    dir = clientHome(),
  ) {
    this.sessionPath = join(dir, 'session.json');
    this.statePath = join(dir, 'state.json');
    this.unsentDir = join(dir, 'unsent-plays');
  }

  /** The saved login for this gateway, unless it has expired. */
  session(): SavedSession | undefined {
    const s = readJson(this.sessionPath) as Partial<SavedSession> | undefined;
    if (!s || typeof s.token !== 'string' || s.gateway !== this.gateway || !s.user) return undefined;
    if (s.expiresAt && Date.parse(s.expiresAt) <= Date.now()) return undefined;
    return s as SavedSession;
  }

  saveSession(session: SavedSession): void {
    writeJson(this.sessionPath, session);
  }

  clearSession(): void {
    rmSync(this.sessionPath, { force: true });
  }

  state(): ClientState {
    const s = readJson(this.statePath) as Partial<ClientState> | undefined;
    const ids = (v: unknown) => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);
    return { listing: ids(s?.listing), queue: ids(s?.queue) };
  }

  saveState(state: ClientState): void {
    writeJson(this.statePath, state);
  }

  /**
   * Keeps a play until `forgetPlays`. One file per play, created whole and removed when sent,
   * so two clients running at once never overwrite each other's plays.
   */
  keepPlay(play: UnsentPlay): void {
    writeJson(join(this.unsentDir, `${play.playId}.json`), play);
  }

  /** The user's kept plays, oldest first (damaged files are skipped). */
  unsentPlays(userId: string): UnsentPlay[] {
    let files: string[];
    try {
      files = readdirSync(this.unsentDir).filter((f) => f.endsWith('.json'));
    } catch {
      return [];
    }
    return files
      .map((f) => readJson(join(this.unsentDir, f)))
      .filter((p): p is UnsentPlay => isKeptPlay(p) && p.userId === userId)
      .sort((a, b) => a.playedAt.localeCompare(b.playedAt));
  }

  forgetPlays(plays: readonly UnsentPlay[]): void {
    for (const play of plays) rmSync(join(this.unsentDir, `${play.playId}.json`), { force: true });
  }
}
