import { type ChildProcess, spawn } from 'node:child_process';
import type { Request, Response } from 'express';
import type { Logger } from 'pino';
import { TRANSCODE_FORMATS, type TranscodeFormat, UnavailableError } from '../common/index.js';

/** Keep mono as mono, bring anything wider down to stereo. */
const AT_MOST_STEREO = ['-af', 'aformat=channel_layouts=mono|stereo'];

interface Encoding {
  contentType: string;
  /** The MIME type of a source already in this format (streamed as it is when no smaller bitrate is asked). */
  sourceType: string | null;
  minKbps: number;
  maxKbps: number;
  args: (kbps: number) => string[];
}

/**
 * How each format is made. Measured on the seeded audio (16-bit mono WAV at 22.05 kHz):
 * libvorbis needs stereo and a managed bitrate (-minrate/-maxrate) to reach what it is asked
 * (plain ABR gave 87 kbit/s for 128, mono failed above 192); libopus takes 48 kHz only and
 * at most 256 kbit/s per stream.
 */
const ENCODINGS: Record<TranscodeFormat, Encoding> = {
  mp3: {
    contentType: 'audio/mpeg',
    sourceType: 'audio/mpeg',
    minKbps: 32,
    maxKbps: 320,
    args: (k) => ['-ar', '44100', ...AT_MOST_STEREO, '-c:a', 'libmp3lame', '-b:a', `${k}k`, '-f', 'mp3'],
  },
  opus: {
    contentType: 'audio/ogg',
    sourceType: null,
    minKbps: 16,
    maxKbps: 256,
    args: (k) => ['-ar', '48000', ...AT_MOST_STEREO, '-c:a', 'libopus', '-b:a', `${k}k`, '-f', 'ogg'],
  },
  ogg: {
    contentType: 'audio/ogg',
    sourceType: 'audio/ogg',
    minKbps: 48,
    maxKbps: 320,
    args: (k) => [
      ...['-ar', '44100', '-ac', '2', '-c:a', 'libvorbis'],
      ...['-b:a', `${k}k`, '-minrate', `${k}k`, '-maxrate', `${k}k`, '-f', 'ogg'],
    ],
  },
  aac: {
    contentType: 'audio/aac',
    sourceType: 'audio/aac',
    minKbps: 32,
    maxKbps: 320,
    args: (k) => ['-ar', '44100', ...AT_MOST_STEREO, '-c:a', 'aac', '-b:a', `${k}k`, '-f', 'adts'],
  },
};

/** What a client asked of a stream (Subsonic's format, maxBitRate and timeOffset; REST's format, bitrate, offset). */
export interface StreamOptions {
  /** `raw`, one of TRANSCODE_FORMATS, or anything else (ignored). */
  format?: string | undefined;
  /** Largest bitrate wanted, kbit/s; 0 or absent: no limit. */
  maxKbps?: number | undefined;
  /** Where a transcoded stream starts, in seconds. */
  offsetS?: number | undefined;
}

export interface AudioSource {
  mimeType: string;
  sizeBytes: number;
  durationMs: number;
}

export type StreamPlan =
  | { transcode: false }
  | { transcode: true; format: TranscodeFormat; kbps: number; offsetS: number; contentType: string };

export interface TranscodeDefaults {
  format: TranscodeFormat;
  kbps: number;
}

const isFormat = (f: string | undefined): f is TranscodeFormat =>
  (TRANSCODE_FORMATS as readonly string[]).includes(f ?? '');

/** A source's bitrate in kbit/s (bits per millisecond), from its size and length. */
export const sourceKbps = (s: AudioSource): number =>
  s.durationMs > 0 ? (s.sizeBytes * 8) / s.durationMs : Number.POSITIVE_INFINITY;

/**
 * Whether and how to transcode. The file goes out untouched for `format=raw`, for no options,
 * and for a bitrate limit at or above its own (or its own format asked without a smaller
 * limit); otherwise it is transcoded to the asked format (else the default) at the asked
 * limit (else the default bitrate), within what the format's encoder takes.
 */
export function planStream(
  opts: StreamOptions,
  source: AudioSource,
  defaults: TranscodeDefaults,
): StreamPlan {
  if (opts.format === 'raw') return { transcode: false };
  const asked = isFormat(opts.format) ? opts.format : undefined;
  const limit = opts.maxKbps && opts.maxKbps > 0 ? opts.maxKbps : undefined;
  const fitsLimit = limit === undefined || limit >= sourceKbps(source);
  if (asked === undefined && fitsLimit) return { transcode: false };
  if (asked !== undefined && ENCODINGS[asked].sourceType === source.mimeType && fitsLimit) {
    return { transcode: false };
  }
  const format = asked ?? defaults.format;
  const { minKbps, maxKbps, contentType } = ENCODINGS[format];
  const kbps = Math.round(Math.min(maxKbps, Math.max(minKbps, limit ?? defaults.kbps)));
  return { transcode: true, format, kbps, offsetS: Math.max(0, opts.offsetS ?? 0), contentType };
}

/** No transcode can start now: the gateway runs as many as it may, or the client its share. */
export class TranscodeBusyError extends UnavailableError {
  // A transcode of a track takes seconds: the wait a client is told (data.retryAfterSeconds).
  constructor(max: number, mine = false) {
    super(
      mine
        ? `you are receiving ${max} transcoded streams already, as many as one listener may; close one or try again shortly`
        : `the server is transcoding ${max} streams already; try again shortly`,
      { retryAfterSeconds: 5 },
    );
    this.name = 'TranscodeBusyError';
  }
}

/** ffmpeg could not turn the file into the asked format (nothing was sent yet). */
export class TranscodeFailedError extends Error {
  constructor(readonly detail: string) {
    super('the audio file could not be transcoded');
    this.name = 'TranscodeFailedError';
  }
}

export interface TranscoderOptions {
  ffmpeg: string;
  maxConcurrent: number;
  /** Of those, how many one client (a logged-in user) may hold at once. */
  perClient: number;
  defaults: TranscodeDefaults;
  log: Logger;
}

/**
 * Runs ffmpeg for transcoded streams: at most `maxConcurrent` at once, each streaming its
 * output to the client as it is produced and killed as soon as the client goes away;
 * `stop()` kills the rest (the gateway stopping). A gateway killed outright takes its pipes
 * with it, and ffmpeg ends on its next write.
 */
export class Transcoder {
  private readonly running = new Set<ChildProcess>();
  /** Transcodes running per client, so no one client holds every slot. */
  private readonly perClient = new Map<string, number>();
  private probed: Promise<boolean> | undefined;

  constructor(private readonly opts: TranscoderOptions) {}

  plan(options: StreamOptions, source: AudioSource): StreamPlan {
    return planStream(options, source, this.opts.defaults);
  }

  /** Whether ffmpeg can be run here (asked once, on first use). */
  available(): Promise<boolean> {
    this.probed ??= new Promise((resolve) => {
      const child = spawn(this.opts.ffmpeg, ['-hide_banner', '-version'], { stdio: 'ignore' });
      child.once('error', () => resolve(false));
      child.once('close', (code) => resolve(code === 0));
    });
    return this.probed;
  }

  /**
   * Streams `path` transcoded as `plan` says. Headers go out with the first bytes, so a file
   * ffmpeg cannot read is a TranscodeFailedError the caller can still answer; resolves when
   * the stream ended or the client left.
   */
  async stream(
    req: Request,
    res: Response,
    path: string,
    plan: Extract<StreamPlan, { transcode: true }>,
    client: string,
  ) {
    if (this.running.size >= this.opts.maxConcurrent) throw new TranscodeBusyError(this.opts.maxConcurrent);
    const held = this.perClient.get(client) ?? 0;
    if (held >= this.opts.perClient) throw new TranscodeBusyError(this.opts.perClient, true);
    const head = () =>
      res.status(200).set({
        'Content-Type': plan.contentType,
        'Accept-Ranges': 'none',
        'Cache-Control': 'no-store',
        'X-Transcode': `${plan.format}; ${plan.kbps} kbit/s`,
      });
    if (req.method === 'HEAD') {
      head().end();
      return;
    }
    const args = [
      ...['-hide_banner', '-nostdin', '-loglevel', 'error'],
      ...(plan.offsetS > 0 ? ['-ss', String(plan.offsetS)] : []),
      ...['-i', path, '-map', '0:a:0', '-vn', '-map_metadata', '-1'],
      ...ENCODINGS[plan.format].args(plan.kbps),
      // Each packet goes out as it is encoded: the first bytes reach the client at once.
      ...['-flush_packets', '1', 'pipe:1'],
    ];
    const child = spawn(this.opts.ffmpeg, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.running.add(child);
    this.perClient.set(client, held + 1);
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      this.running.delete(child);
      const left = (this.perClient.get(client) ?? 1) - 1;
      if (left > 0) this.perClient.set(client, left);
      else this.perClient.delete(client);
    };
    const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
    void exited.then(release);
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      if (stderr.length < 2000) stderr += chunk.toString('utf8');
    });
    const kill = () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    };
    res.once('close', kill);

    const first = await new Promise<Buffer | null>((resolve, reject) => {
      child.once('error', reject);
      child.stdout.once('data', (chunk: Buffer) => {
        child.stdout.pause();
        resolve(chunk);
      });
      void exited.then(() => resolve(null));
    }).catch((err: Error) => {
      release();
      throw err;
    });
    if (first === null) {
      if (res.destroyed) return;
      throw new TranscodeFailedError(stderr.trim() || `ffmpeg exited with ${child.exitCode}`);
    }
    head().write(first);
    child.stdout.pipe(res);
    await exited;
    if (child.exitCode !== 0 && !res.destroyed) {
      this.opts.log.warn({ code: child.exitCode, stderr: stderr.trim() }, 'transcode ended early');
    }
  }

  /** Kills every transcode still running and waits for them to exit. */
  async stop(): Promise<void> {
    const children = [...this.running];
    for (const child of children) child.kill('SIGKILL');
    await Promise.all(
      children.map((c) =>
        c.exitCode !== null || c.signalCode !== null
          ? undefined
          : new Promise<void>((resolve) => c.once('close', () => resolve())),
      ),
    );
  }
}
