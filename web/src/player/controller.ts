/**
 * The player: one `<audio>` element fed by `GET /api/tracks/:id/stream` (Range requests, so
 * seeking works), the queue, the listening meter and the play reporter, and the Media Session
 * (lock screen, media keys). It lives for the whole page, outside the routed part, so music
 * keeps playing while the listener browses.
 */

import { GAIN_MODES, type GainMode, gainFactor } from '../../../common/contracts/browser.js';
import { connection, enc, postStatus } from '../api.js';
import { session } from '../session.js';
import { createStore, type Store } from '../store.js';
import { albumColor, coverDataUrl } from '../ui/cover-art.js';
import { countsAsPlay, ListenMeter, type StopReason } from './listening.js';
import { PlayReporter } from './plays.js';
import { type Entry, Queue, type QueueTrack } from './queue.js';

export interface PlayerState {
  current: Entry | null;
  playing: boolean;
  /** Seconds (the position is a store of its own, `player.position`, as it changes several times a second). */
  duration: number;
  /** The listener's volume (ReplayGain's attenuation comes on top, see gain.ts). */
  volume: number;
  muted: boolean;
  gainMode: GainMode;
  upNext: readonly Entry[];
  contextLabel: string;
  contextRest: readonly Entry[];
  hasNext: boolean;
  hasPrevious: boolean;
  /** Why the current track does not play, if it cannot. */
  error: string | null;
}

const QUEUE_KEY = 'music.queue';
const VOLUME_KEY = 'music.volume';
const GAIN_MODE_KEY = 'music.replayGain';
/** "Previous" within the first seconds of a track goes back; later it starts the track again. */
const RESTART_AFTER_S = 3;

/** Bumped whenever plays reached the gateway, so live lists can ask again at once. */
export const playsSent = createStore(0);

export const reporter = new PlayReporter({
  // Looked up on each use: a browser refusing storage throws there, and the reporter copes.
  store: {
    getItem: (key) => localStorage.getItem(key),
    setItem: (key, value) => localStorage.setItem(key, value),
  },
  post: postStatus,
  userId: () => session.get()?.user.id ?? null,
});

/** Storage that may refuse (disabled, full): the player works on without it. */
function stored(key: string): string | null {
  try {
    return localStorage.getItem(key);
  } catch {
    return null;
  }
}
function store(key: string, value: string | null): void {
  try {
    if (value === null) localStorage.removeItem(key);
    else localStorage.setItem(key, value);
  } catch {
    // Not kept: it lasts as long as the page.
  }
}

function storedVolume(): number {
  const raw = stored(VOLUME_KEY);
  const v = Number(raw);
  return raw !== null && v >= 0 && v <= 1 ? v : 0.8;
}

function storedGainMode(): GainMode {
  const raw = stored(GAIN_MODE_KEY);
  return (GAIN_MODES as readonly string[]).includes(raw ?? '') ? (raw as GainMode) : 'track';
}

class Player {
  readonly audio: HTMLAudioElement;
  readonly state: Store<PlayerState>;
  /** Where the current track is, in seconds. */
  readonly position = createStore(0);
  private queue = new Queue();
  private meter = new ListenMeter();
  /** When the current track first played (its play's `playedAt`). */
  private startedAt = '';
  /** The current track's play was reported (or will not be): nothing more to do when it stops. */
  private settled = true;
  /** The listener wants sound (pressed play, or a track started by itself): a failed load is retried. */
  private wantPlay = false;
  /** The listener's volume; the element's is this times the current track's gain factor. */
  private volume = storedVolume();
  private gainMode = storedGainMode();

  constructor() {
    const audio = document.createElement('audio');
    audio.preload = 'auto';
    audio.volume = this.volume;
    audio.setAttribute('aria-hidden', 'true');
    document.body.append(audio);
    this.audio = audio;
    this.state = createStore<PlayerState>(this.snapshot());

    audio.addEventListener('timeupdate', () => {
      if (!audio.paused && !audio.seeking) this.meter.at(audio.currentTime * 1000);
      this.position.set(audio.currentTime);
      this.positionState();
    });
    audio.addEventListener('seeking', () => this.meter.jumped());
    for (const type of ['play', 'pause', 'durationchange', 'volumechange', 'seeked', 'loadedmetadata']) {
      audio.addEventListener(type, () => this.publish());
    }
    audio.addEventListener('volumechange', () => store(VOLUME_KEY, String(this.volume)));
    audio.addEventListener('ended', () => {
      this.meter.at(audio.currentTime * 1000);
      this.settle('ended');
      this.load(this.queue.next(), true);
    });
    audio.addEventListener('playing', () => {
      this.startedAt ||= new Date().toISOString();
      this.publish(null);
    });
    audio.addEventListener('error', () => {
      if (!audio.getAttribute('src')) return;
      this.publish('This track did not load. It is tried again when the server answers.');
    });
    // The page is closing mid-track: a play long enough to count is kept and sent next time.
    addEventListener('pagehide', () => {
      const entry = this.queue.current;
      if (entry && !this.settled && countsAsPlay('skipped', this.meter.listenedMs)) {
        this.settled = true;
        reporter.keep(this.play(entry));
      }
      this.save();
    });
    // Plays kept while the gateway was away go as soon as it answers again, and a track that
    // failed to load meanwhile is loaded again.
    connection.subscribe((state) => {
      if (state !== 'up') return;
      void this.flush();
      if (this.audio.error && this.wantPlay) this.resume();
    });
    this.mediaSession();
  }

  private snapshot(error: string | null = null): PlayerState {
    const a = this.audio;
    return {
      current: this.queue.current,
      playing: !a.paused,
      duration: Number.isFinite(a.duration) ? a.duration : (this.queue.current?.track.durationMs ?? 0) / 1000,
      volume: this.volume,
      muted: a.muted,
      gainMode: this.gainMode,
      upNext: [...this.queue.upNext],
      contextLabel: this.queue.contextLabel,
      contextRest: this.queue.contextRest,
      hasNext: this.queue.hasNext,
      hasPrevious: this.queue.hasPrevious,
      error,
    };
  }

  private publish(error: string | null = this.state?.get().error ?? null): void {
    this.state.set(this.snapshot(error));
    this.position.set(this.audio.currentTime);
    this.positionState();
  }

  private play(entry: Entry) {
    return {
      trackId: entry.track.id,
      msPlayed: Math.min(this.meter.listenedMs, entry.track.durationMs),
      playedAt: this.startedAt || new Date().toISOString(),
    };
  }

  /** The current track stops for `reason`: its play is reported when it counts. */
  private settle(reason: StopReason): void {
    const entry = this.queue.current;
    if (!entry || this.settled) return;
    this.settled = true;
    if (countsAsPlay(reason, this.meter.listenedMs)) {
      void reporter.report(this.play(entry)).then((r) => {
        if (r.sent > 0) playsSent.update((n) => n + 1);
      });
    }
  }

  async flush(): Promise<void> {
    const r = await reporter.flush();
    if (r.sent > 0) playsSent.update((n) => n + 1);
  }

  /** Puts an entry into the audio element (or empties it) and starts it when asked. */
  private load(entry: Entry | null, autoplay: boolean): void {
    this.meter = new ListenMeter();
    this.startedAt = '';
    this.settled = entry === null;
    this.wantPlay = autoplay && entry !== null;
    if (!entry) {
      this.audio.pause();
      this.audio.removeAttribute('src');
      this.audio.load();
    } else {
      // A track restored paused loads only its length until it is played.
      this.audio.preload = autoplay ? 'auto' : 'metadata';
      this.audio.src = `/api/tracks/${enc(entry.track.id)}/stream`;
      this.applyVolume();
      if (autoplay) this.resume();
    }
    void this.metadata();
    this.save();
    this.publish(null);
  }

  /** Switches to another entry: the current one counts as skipped. */
  private switchTo(change: () => Entry | null): void {
    this.settle('skipped');
    this.load(change(), true);
  }

  resume(): void {
    if (!this.queue.current) return;
    this.wantPlay = true;
    if (this.audio.error) {
      const at = this.audio.currentTime;
      this.audio.load();
      if (at > 0) this.audio.currentTime = at;
    }
    this.audio.play().catch((err: Error) => {
      // A browser that wants a click first (autoplay policy), or a load aborted by the next track.
      if (err.name !== 'AbortError') this.publish();
    });
  }

  pause(): void {
    this.wantPlay = false;
    this.audio.pause();
  }

  toggle(): void {
    if (this.audio.paused) this.resume();
    else this.pause();
  }

  /** Plays `tracks` from `index` (an album, a playlist, search results). */
  playList(label: string, tracks: readonly QueueTrack[], index: number): void {
    this.switchTo(() => this.queue.playContext(label, tracks, index));
  }

  enqueue(track: QueueTrack): void {
    const idle = !this.queue.current;
    const entry = this.queue.enqueue(track);
    if (idle) this.load(entry, true);
    else this.changed();
  }

  playNext(track: QueueTrack): void {
    const idle = !this.queue.current;
    const entry = this.queue.playNext(track);
    if (idle) this.load(entry, true);
    else this.changed();
  }

  next(): void {
    if (this.queue.current) this.switchTo(() => this.queue.next());
  }

  previous(): void {
    if (this.audio.currentTime > RESTART_AFTER_S || !this.queue.hasPrevious) this.seek(0);
    else this.switchTo(() => this.queue.previous());
  }

  jumpTo(key: number): void {
    this.switchTo(() => this.queue.jumpTo(key));
  }

  remove(key: number): void {
    this.queue.remove(key);
    this.changed();
  }

  clear(): void {
    this.queue.clear();
    this.changed();
  }

  seek(seconds: number): void {
    if (!this.queue.current) return;
    const end = Number.isFinite(this.audio.duration) ? this.audio.duration : seconds;
    this.audio.currentTime = Math.min(Math.max(0, seconds), end);
    this.publish();
  }

  seekBy(seconds: number): void {
    this.seek(this.audio.currentTime + seconds);
  }

  setVolume(volume: number): void {
    this.volume = Math.min(1, Math.max(0, volume));
    store(VOLUME_KEY, String(this.volume));
    this.applyVolume();
    if (this.volume > 0) this.audio.muted = false;
  }

  /** Levels tracks by their ReplayGain: by track, by album, or not at all. */
  setGainMode(mode: GainMode): void {
    this.gainMode = mode;
    store(GAIN_MODE_KEY, mode);
    this.applyVolume();
    this.publish();
  }

  private applyVolume(): void {
    this.audio.volume = this.volume * gainFactor(this.queue.current?.track.replayGain, this.gainMode);
  }

  toggleMute(): void {
    this.audio.muted = !this.audio.muted;
  }

  /** Stops and forgets the queue (log out, or another user logged in). */
  reset(): void {
    this.settle('skipped');
    this.queue.reset();
    this.load(null, false);
    store(QUEUE_KEY, null);
  }

  /** Picks up the queue saved by this user's last visit (paused, at the start of its track). */
  restore(userId: string): void {
    try {
      const saved = JSON.parse(stored(QUEUE_KEY) ?? 'null') as {
        userId?: string;
        queue?: unknown;
      } | null;
      if (saved?.userId !== userId) return;
      this.queue = Queue.fromJSON(saved.queue);
    } catch {
      return;
    }
    this.load(this.queue.current, false);
  }

  private changed(): void {
    this.save();
    this.publish();
  }

  private save(): void {
    const userId = session.get()?.user.id;
    if (!userId) return;
    store(QUEUE_KEY, JSON.stringify({ userId, queue: this.queue.toJSON() }));
  }

  // --- Media Session: lock screen, notification and media keys -------------------------------

  private mediaSession(): void {
    if (!('mediaSession' in navigator)) return;
    const handlers: Array<[MediaSessionAction, MediaSessionActionHandler]> = [
      ['play', () => this.resume()],
      ['pause', () => this.pause()],
      ['previoustrack', () => this.previous()],
      ['nexttrack', () => this.next()],
      ['seekbackward', (d) => this.seekBy(-(d.seekOffset ?? 10))],
      ['seekforward', (d) => this.seekBy(d.seekOffset ?? 10)],
      ['seekto', (d) => this.seek(d.seekTime ?? 0)],
      ['stop', () => this.pause()],
    ];
    for (const [action, handler] of handlers) {
      try {
        navigator.mediaSession.setActionHandler(action, handler);
      } catch {
        // An action this browser does not know.
      }
    }
  }

  private async metadata(): Promise<void> {
    if (!('mediaSession' in navigator)) return;
    const track = this.queue.current?.track;
    if (!track) {
      navigator.mediaSession.metadata = null;
      return;
    }
    const meta = new MediaMetadata({ title: track.title, artist: track.artistName, album: track.albumTitle });
    navigator.mediaSession.metadata = meta;
    const color = await albumColor(track.albumId);
    meta.artwork = [{ src: coverDataUrl(track.albumTitle, color), sizes: '512x512', type: 'image/svg+xml' }];
  }

  private positionState(): void {
    if (!('mediaSession' in navigator)) return;
    const a = this.audio;
    navigator.mediaSession.playbackState = this.queue.current ? (a.paused ? 'paused' : 'playing') : 'none';
    if (!Number.isFinite(a.duration) || a.duration <= 0) return;
    try {
      navigator.mediaSession.setPositionState({
        duration: a.duration,
        position: Math.min(a.currentTime, a.duration),
        playbackRate: a.playbackRate,
      });
    } catch {
      // Position state is optional.
    }
  }
}

export const player = new Player();
