/**
 * What plays next. Three parts, as music players usually have them:
 * - the context: the list playback was started from (an album, a playlist, search results),
 *   played in order from a position;
 * - up next: tracks the listener queued by hand ("add to queue", "play next"), played before
 *   the rest of the context and removed from the queue as they start;
 * - the history of what played, for "previous".
 * Pure logic, no DOM, so it is unit tested on its own.
 */
import { cleanGain } from '../../../common/contracts/browser.js';
import type { Track } from '../../../common/contracts/index.js';

/** What the player needs of a track (a catalog track has all of it). */
export type QueueTrack = Pick<
  Track,
  'id' | 'title' | 'artistId' | 'artistName' | 'albumId' | 'albumTitle' | 'durationMs' | 'replayGain'
>;

/** One place in the queue; `key` tells apart two entries of the same track. */
export interface Entry {
  key: number;
  track: QueueTrack;
}

export interface QueueState {
  current: Entry | null;
  upNext: Entry[];
  /** What the context is, e.g. "Glacier Hymns" (shown as "Next from Glacier Hymns"). */
  contextLabel: string;
  context: Entry[];
  /** Index in `context` of the last context entry that started (-1: none yet). */
  position: number;
  history: Entry[];
}

/** How far back "previous" can go. */
export const MAX_HISTORY = 100;
/** The most entries a queue holds (context and up next each), so a stored queue stays small. */
export const MAX_ENTRIES = 1000;

function trackOnly(t: QueueTrack): QueueTrack {
  const { id, title, artistId, artistName, albumId, albumTitle, durationMs } = t;
  const replayGain = cleanGain(t.replayGain);
  return {
    id,
    title,
    artistId,
    artistName,
    albumId,
    albumTitle,
    durationMs,
    ...(replayGain ? { replayGain } : {}),
  };
}

export class Queue {
  private nextKey = 1;
  private state: QueueState = {
    current: null,
    upNext: [],
    contextLabel: '',
    context: [],
    position: -1,
    history: [],
  };

  get current(): Entry | null {
    return this.state.current;
  }
  get upNext(): readonly Entry[] {
    return this.state.upNext;
  }
  get contextLabel(): string {
    return this.state.contextLabel;
  }
  /** The context entries still to come. */
  get contextRest(): readonly Entry[] {
    return this.state.context.slice(this.state.position + 1);
  }
  get hasNext(): boolean {
    return this.state.upNext.length > 0 || this.state.position + 1 < this.state.context.length;
  }
  get hasPrevious(): boolean {
    return this.state.history.length > 0;
  }

  private entry(track: QueueTrack): Entry {
    return { key: this.nextKey++, track: trackOnly(track) };
  }

  private contextIndex(key: number): number {
    return this.state.context.findIndex((e) => e.key === key);
  }

  private start(entry: Entry | null): Entry | null {
    const { current, history } = this.state;
    if (current) {
      history.push(current);
      if (history.length > MAX_HISTORY) history.splice(0, history.length - MAX_HISTORY);
    }
    this.state.current = entry;
    return entry;
  }

  /** Starts `tracks` from `index` as the new context; what was queued by hand stays queued. */
  playContext(label: string, tracks: readonly QueueTrack[], index = 0): Entry | null {
    const context = tracks.slice(0, MAX_ENTRIES).map((t) => this.entry(t));
    const at = Math.min(Math.max(0, index), context.length - 1);
    this.state.contextLabel = label;
    this.state.context = context;
    this.state.position = at;
    return this.start(context[at] ?? null);
  }

  /** Queues a track after everything queued by hand so far; plays it at once when nothing plays. */
  enqueue(track: QueueTrack): Entry {
    return this.queueUp(track, 'last');
  }

  /** Queues a track to play right after the current one (at once when nothing plays). */
  playNext(track: QueueTrack): Entry {
    return this.queueUp(track, 'first');
  }

  private queueUp(track: QueueTrack, where: 'first' | 'last'): Entry {
    const entry = this.entry(track);
    if (!this.state.current) {
      this.start(entry);
      return entry;
    }
    const { upNext } = this.state;
    if (where === 'first') upNext.unshift(entry);
    else upNext.push(entry);
    // Past the bound, the entry farthest from playing goes.
    if (upNext.length > MAX_ENTRIES) upNext.splice(where === 'first' ? -1 : 0, 1);
    return entry;
  }

  /** Moves on: the first track queued by hand, else the next of the context, else nothing (stops). */
  next(): Entry | null {
    const queued = this.state.upNext.shift();
    if (queued) return this.start(queued);
    const following = this.state.context[this.state.position + 1];
    if (following) {
      this.state.position++;
      return this.start(following);
    }
    this.start(null);
    return null;
  }

  /** Goes back to what played before the current entry (which is put back in front of up next). */
  previous(): Entry | null {
    const before = this.state.history.pop();
    if (!before) return this.state.current;
    const { current } = this.state;
    if (current) {
      const inContext = this.contextIndex(current.key);
      if (inContext >= 0) this.state.position = inContext - 1;
      else this.state.upNext.unshift(current);
    }
    const inContext = this.contextIndex(before.key);
    if (inContext >= 0) this.state.position = inContext;
    this.state.current = before;
    return before;
  }

  /**
   * Plays an upcoming entry now. From up next: the entries queued before it are skipped
   * (dropped). From the context: playback goes on from there; up next stays.
   */
  jumpTo(key: number): Entry | null {
    const queuedAt = this.state.upNext.findIndex((e) => e.key === key);
    if (queuedAt >= 0) {
      const [entry] = this.state.upNext.splice(0, queuedAt + 1).slice(-1);
      return this.start(entry!);
    }
    const contextAt = this.contextIndex(key);
    if (contextAt > this.state.position) {
      this.state.position = contextAt;
      return this.start(this.state.context[contextAt]!);
    }
    return this.state.current;
  }

  /** Removes an upcoming entry (queued by hand or from the context); the current one stays. */
  remove(key: number): void {
    const queuedAt = this.state.upNext.findIndex((e) => e.key === key);
    if (queuedAt >= 0) {
      this.state.upNext.splice(queuedAt, 1);
      return;
    }
    const contextAt = this.contextIndex(key);
    if (contextAt > this.state.position) this.state.context.splice(contextAt, 1);
  }

  /** Empties what is still to come (queued by hand and the rest of the context); the current track plays on. */
  clear(): void {
    this.state.upNext = [];
    this.state.context = this.state.context.slice(0, this.state.position + 1);
  }

  /** Forgets everything (e.g. at log out). */
  reset(): void {
    this.state = { current: null, upNext: [], contextLabel: '', context: [], position: -1, history: [] };
  }

  /** A plain copy, for keeping the queue across reloads. */
  toJSON(): QueueState {
    return structuredClone(this.state);
  }

  /** A queue restored from `toJSON`; anything that does not look right is dropped. */
  static fromJSON(value: unknown): Queue {
    const queue = new Queue();
    const s = value as Partial<QueueState> | null;
    if (typeof s !== 'object' || s === null) return queue;
    const entries = (v: unknown): Entry[] =>
      Array.isArray(v)
        ? v
            .filter(isEntry)
            .slice(0, MAX_ENTRIES)
            .map((e) => ({ key: e.key, track: trackOnly(e.track) }))
        : [];
    const context = entries(s.context);
    const position = Number.isInteger(s.position)
      ? Math.min(Math.max(-1, s.position!), context.length - 1)
      : -1;
    const current = isEntry(s.current) ? { key: s.current.key, track: trackOnly(s.current.track) } : null;
    queue.state = {
      current,
      upNext: entries(s.upNext),
      contextLabel: typeof s.contextLabel === 'string' ? s.contextLabel.slice(0, 200) : '',
      context,
      position,
      history: entries(s.history).slice(-MAX_HISTORY),
    };
    const all = [current, ...queue.state.upNext, ...context, ...queue.state.history];
    queue.nextKey = Math.max(0, ...all.map((e) => e?.key ?? 0)) + 1;
    return queue;
  }
}

function isEntry(v: unknown): v is Entry {
  const e = v as Partial<Entry> | null;
  const t = e?.track as Partial<QueueTrack> | undefined;
  return (
    Number.isSafeInteger(e?.key) &&
    typeof t === 'object' &&
    t !== null &&
    typeof t.id === 'string' &&
    typeof t.title === 'string' &&
    typeof t.artistId === 'string' &&
    typeof t.artistName === 'string' &&
    typeof t.albumId === 'string' &&
    typeof t.albumTitle === 'string' &&
    typeof t.durationMs === 'number'
  );
}
