/**
 * Playing a track: streams the audio into a player found on this machine, or, with none
 * (or --no-audio), lets the track's duration pass (optionally faster) so the progress bar
 * and the reported listening time behave the same way.
 */
import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { GAIN_MODES, type GainMode, gainDb, type Track } from '../common/contracts/index.js';
import type { Api } from './api.js';

export interface Player {
  name: string;
  command: string;
  args: string[];
}

const WAV = ['audio/wav', 'audio/x-wav', 'audio/wave', 'audio/vnd.wave'];

/**
 * Players that read audio from stdin, best first; some only understand a few formats. Those
 * with a volume filter are given the track's ReplayGain in dB (`gain`).
 */
const CANDIDATES: Array<{
  command: string;
  args: string[];
  mimeTypes?: string[];
  gain?: (dB: number) => string[];
}> = [
  {
    command: 'mpv',
    args: ['--no-video', '--really-quiet', '--no-terminal', '-'],
    gain: (dB) => [`--af=lavfi=[volume=${dB.toFixed(2)}dB]`],
  },
  {
    command: 'ffplay',
    args: ['-nodisp', '-autoexit', '-loglevel', 'quiet', '-i', 'pipe:0'],
    gain: (dB) => ['-af', `volume=${dB.toFixed(2)}dB`],
  },
  { command: 'paplay', args: [], mimeTypes: [...WAV, 'audio/flac', 'audio/x-flac', 'audio/ogg'] },
  { command: 'aplay', args: ['-q', '-'], mimeTypes: WAV },
];

function onPath(command: string): boolean {
  return (process.env.PATH ?? '').split(delimiter).some((dir) => {
    try {
      accessSync(join(dir, command), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

/**
 * The player for a track: MUSIC_PLAYER when set (`none` for silence, or a command line that
 * reads audio from stdin, used as it is), else the first installed candidate that plays its
 * format, levelling it by its ReplayGain (`MUSIC_REPLAYGAIN`: track, the default, album or off)
 * where the player can.
 */
export function findPlayer(
  track: Pick<Track, 'mimeType' | 'replayGain'>,
  env = process.env,
  installed: (command: string) => boolean = onPath,
): Player | null {
  const { mimeType } = track;
  const chosen = env.MUSIC_PLAYER?.trim();
  if (chosen === 'none') return null;
  if (chosen) {
    const [command, ...args] = chosen.split(/\s+/);
    return { name: command!, command: command!, args };
  }
  const mode = (GAIN_MODES as readonly string[]).includes(env.MUSIC_REPLAYGAIN ?? '')
    ? (env.MUSIC_REPLAYGAIN as GainMode)
    : 'track';
  const dB = gainDb(track.replayGain, mode);
  for (const c of CANDIDATES) {
    if (c.mimeTypes && !c.mimeTypes.includes(mimeType)) continue;
    if (!installed(c.command)) continue;
    const gain = dB !== undefined && c.gain ? c.gain(dB) : [];
    // Filters go before the input.
    return { name: c.command, command: c.command, args: [...gain, ...c.args] };
  }
  return null;
}

export interface PlaybackOptions {
  audio: boolean;
  /** How much faster than real time the silent mode runs (tests, demos). */
  speed: number;
  signal: AbortSignal;
  onTick?: (positionMs: number) => void;
}

export interface Playback {
  /** Time actually listened, in ms. */
  msPlayed: number;
  completed: boolean;
  /** The player used, or null when silent. */
  player: string | null;
  /** Why the player stopped early, if it failed. */
  failure?: string;
}

const TICK_MS = 100;

export async function play(api: Api, track: Track, opts: PlaybackOptions): Promise<Playback> {
  const player = opts.audio ? findPlayer(track) : null;
  return player ? playAudio(api, track, player, opts) : simulate(track, opts);
}

/** Lets the track's duration pass (times `speed`) until its end or an abort. */
function simulate(track: Track, opts: PlaybackOptions): Promise<Playback> {
  const start = performance.now();
  const position = () => Math.min(track.durationMs, (performance.now() - start) * opts.speed);
  return new Promise((resolve) => {
    let timer: NodeJS.Timeout | undefined;
    const finish = (completed: boolean) => {
      clearInterval(timer);
      opts.signal.removeEventListener('abort', aborted);
      const msPlayed = completed ? track.durationMs : Math.round(position());
      opts.onTick?.(msPlayed);
      resolve({ msPlayed, completed, player: null });
    };
    const aborted = () => finish(false);
    if (opts.signal.aborted) return finish(false);
    opts.signal.addEventListener('abort', aborted, { once: true });
    timer = setInterval(() => {
      const pos = position();
      if (pos >= track.durationMs) finish(true);
      else opts.onTick?.(pos);
    }, TICK_MS);
  });
}

async function playAudio(api: Api, track: Track, player: Player, opts: PlaybackOptions): Promise<Playback> {
  let res: Response;
  try {
    res = await api.stream(track.id, opts.signal);
  } catch (err) {
    if (opts.signal.aborted) return { msPlayed: 0, completed: false, player: player.name };
    throw err;
  }
  const child = spawn(player.command, player.args, { stdio: ['pipe', 'ignore', 'pipe'] });
  const body = Readable.fromWeb(res.body as WebReadableStream<Uint8Array>);
  // The player may quit before it read everything (EPIPE), and an abort ends the download: both are normal.
  body.on('error', () => {});
  child.stdin.on('error', () => {});
  body.pipe(child.stdin);
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-500);
  });

  // The player paces the audio and exits at its end; an abort stops it early.
  let spawned = true;
  const exited = new Promise<string | undefined>((resolve) => {
    child.once('error', (err) => {
      spawned = false;
      resolve(`cannot run ${player.command}: ${err.message}`);
    });
    child.once('close', (code, signal) => {
      if (code === 0 || opts.signal.aborted) resolve(undefined);
      else resolve(`${player.name} stopped (${signal ?? `exit code ${code}`})${tail(stderr)}`);
    });
  });
  const start = performance.now();
  const listened = () => Math.round(Math.min(track.durationMs, performance.now() - start));
  const ticker = setInterval(() => opts.onTick?.(listened()), TICK_MS);
  const abort = () => {
    body.destroy();
    child.kill('SIGTERM');
  };
  opts.signal.addEventListener('abort', abort, { once: true });
  if (opts.signal.aborted) abort();
  const failure = await exited;
  clearInterval(ticker);
  opts.signal.removeEventListener('abort', abort);
  const msPlayed = spawned ? listened() : 0;
  opts.onTick?.(msPlayed);
  return {
    msPlayed,
    completed: !opts.signal.aborted && failure === undefined,
    player: player.name,
    ...(failure ? { failure } : {}),
  };
}

function tail(text: string): string {
  const last = text.trim().split('\n').pop();
  return last ? `: ${last}` : '';
}
