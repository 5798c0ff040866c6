/**
 * Reporting plays the way the terminal client does (client/delivery.ts): every play gets a
 * play id chosen here, is kept in local storage before it is sent, and is forgotten only once
 * the gateway accepted it (202) or refused it for good (400, 404). A play the gateway cannot
 * take now (503, unreachable, logged out) stays kept and is sent later, with any others kept,
 * in one `POST /api/plays/batch`. The play id makes every retry the same play, so a play sent
 * twice (a retry after a lost answer, two tabs sending the same kept play) counts once.
 * No DOM here: storage, HTTP and timers are handed in, so this is unit tested on its own.
 */

import { isKeptPlay, type KeptPlay } from '../../../common/contracts/browser.js';

export type { KeptPlay };

/** The part of `localStorage` used here. */
export interface KeyValueStore {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
}

/** Sends a JSON body with the user's token; resolves with the HTTP status (0: no answer). */
export type PostJson = (path: string, body: unknown) => Promise<number>;

export interface ReporterOptions {
  store: KeyValueStore;
  post: PostJson;
  /** The logged-in user's id, or null when nobody is. */
  userId: () => string | null;
  newId?: () => string;
  wait?: (ms: number) => Promise<void>;
  /** Runs `fn` in `ms` (sending kept plays later); the default is setTimeout. */
  schedule?: (fn: () => void, ms: number) => void;
  /** Attempts of one send while the gateway answers 503 or not at all (default 4). */
  attempts?: number;
}

export const STORAGE_KEY = 'music.keptPlays';
/** The most plays the gateway takes in one batch (gateway/routes/activity.ts). */
export const MAX_PLAYS_PER_BATCH = 500;
/** The most plays kept; past it the oldest go, so storage cannot fill up. */
export const MAX_KEPT = 5000;
/** Reported as the play's source. */
export const SOURCE = 'web';

const RETRY_LATER_MS = [5_000, 10_000, 20_000, 30_000];

type Outcome = 'sent' | 'refused' | 'later';

/** 2xx: the gateway has it; 400/404: it never will (bad play, unknown track); anything else: try again later. */
function outcome(status: number): Outcome {
  if (status >= 200 && status < 300) return 'sent';
  if (status === 400 || status === 404) return 'refused';
  return 'later';
}

/** Worth retrying at once, a few times: the gateway is briefly unavailable or unreachable. */
function transient(status: number): boolean {
  return status === 0 || status === 502 || status === 503 || status === 504;
}

export interface FlushResult {
  sent: number;
  dropped: number;
  /** Still kept for later. */
  kept: number;
}

export class PlayReporter {
  private readonly wait: (ms: number) => Promise<void>;
  private readonly schedule: (fn: () => void, ms: number) => void;
  private readonly newId: () => string;
  private readonly attempts: number;
  /** Used when storage refuses to keep anything (full, or disabled). */
  private memory: KeptPlay[] = [];
  private running: Promise<FlushResult> | null = null;
  private again = false;
  private laterStep = 0;
  private laterPending = false;

  constructor(private readonly opts: ReporterOptions) {
    this.wait = opts.wait ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
    this.schedule = opts.schedule ?? ((fn, ms) => setTimeout(fn, ms));
    this.newId = opts.newId ?? (() => crypto.randomUUID());
    this.attempts = opts.attempts ?? 4;
  }

  /** Every kept play (of every user), oldest first. */
  kept(): KeptPlay[] {
    let stored: unknown;
    try {
      stored = JSON.parse(this.opts.store.getItem(STORAGE_KEY) ?? '[]');
    } catch {
      stored = [];
    }
    const plays = Array.isArray(stored) ? stored.filter(isKeptPlay) : [];
    const known = new Set(plays.map((p) => p.playId));
    for (const p of this.memory) if (!known.has(p.playId)) plays.push(p);
    return plays.sort((a, b) => a.playedAt.localeCompare(b.playedAt));
  }

  private save(plays: KeptPlay[]): void {
    const bounded = plays.slice(-MAX_KEPT);
    try {
      this.opts.store.setItem(STORAGE_KEY, JSON.stringify(bounded));
      this.memory = [];
    } catch {
      this.memory = bounded;
    }
  }

  private forget(playIds: ReadonlySet<string>): void {
    // Read again: another tab may have kept plays meanwhile.
    this.save(this.kept().filter((p) => !playIds.has(p.playId)));
  }

  /** Keeps a play without sending it yet (the page is closing); returns it. */
  keep(play: Omit<KeptPlay, 'userId' | 'playId'>): KeptPlay | null {
    const userId = this.opts.userId();
    if (!userId) return null;
    const kept: KeptPlay = {
      userId,
      trackId: play.trackId,
      msPlayed: Math.max(0, Math.round(play.msPlayed)),
      playedAt: play.playedAt,
      playId: this.newId(),
    };
    this.save([...this.kept(), kept]);
    return kept;
  }

  /** Keeps a play and sends it, with every play kept before. */
  report(play: Omit<KeptPlay, 'userId' | 'playId'>): Promise<FlushResult> {
    this.keep(play);
    return this.flush();
  }

  /**
   * Sends the logged-in user's kept plays, oldest first. One flush runs at a time; a flush
   * asked for meanwhile runs right after it (so a play kept during a send is not left behind).
   */
  flush(): Promise<FlushResult> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    const run = async (): Promise<FlushResult> => {
      let result: FlushResult;
      do {
        this.again = false;
        result = await this.flushOnce();
      } while (this.again);
      return result;
    };
    this.running = run().finally(() => {
      this.running = null;
    });
    return this.running;
  }

  private async flushOnce(): Promise<FlushResult> {
    const userId = this.opts.userId();
    const result: FlushResult = { sent: 0, dropped: 0, kept: 0 };
    if (!userId) return result;
    const plays = this.kept().filter((p) => p.userId === userId);
    for (let i = 0; i < plays.length; i += MAX_PLAYS_PER_BATCH) {
      const batch = plays.slice(i, i + MAX_PLAYS_PER_BATCH);
      let state = await this.send(batch);
      if (state === 'sent') {
        this.forget(new Set(batch.map((p) => p.playId)));
        result.sent += batch.length;
        continue;
      }
      // A batch refused outright is sent again one play at a time, so one bad play does not hold back the others.
      if (state === 'refused') {
        for (const play of batch) {
          state = batch.length === 1 ? state : await this.send([play]);
          if (state === 'later') break;
          this.forget(new Set([play.playId]));
          if (state === 'sent') result.sent++;
          else result.dropped++;
        }
      }
      if (state === 'later') {
        result.kept = this.kept().filter((p) => p.userId === userId).length;
        this.retryLater();
        return result;
      }
    }
    this.laterStep = 0;
    return result;
  }

  /** One play alone as `POST /api/plays`, several as one `POST /api/plays/batch`; retried while transient. */
  private async send(plays: readonly KeptPlay[]): Promise<Outcome> {
    const bodies = plays.map(({ trackId, msPlayed, playedAt, playId }) => ({
      trackId,
      msPlayed,
      playedAt,
      playId,
      source: SOURCE,
    }));
    const [path, body] =
      bodies.length === 1 ? ['/api/plays', bodies[0]] : ['/api/plays/batch', { plays: bodies }];
    for (let attempt = 1; ; attempt++) {
      const status = await this.opts.post(path, body);
      if (!transient(status) || attempt >= this.attempts) return outcome(status);
      await this.wait(250 * 2 ** (attempt - 1));
    }
  }

  private retryLater(): void {
    if (this.laterPending) return;
    this.laterPending = true;
    const ms = RETRY_LATER_MS[Math.min(this.laterStep, RETRY_LATER_MS.length - 1)]!;
    this.laterStep++;
    this.schedule(() => {
      this.laterPending = false;
      void this.flush();
    }, ms);
  }
}
