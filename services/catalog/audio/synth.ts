import { Random } from './prng.js';

/**
 * A tiny deterministic synthesiser for the seed catalog: every track gets its own tempo,
 * key, scale, melody, bass line and (for some genres) drums from a PRNG seeded by its name,
 * so the catalog ships real, distinct, playable audio without downloading anything.
 */

export const SAMPLE_RATE = 22050;

type Wave = 'sine' | 'triangle' | 'saw' | 'square' | 'epiano' | 'pluck';
type Drums = 'none' | 'rock' | 'four' | 'swing' | 'brush';
type BassStyle = 'eighths' | 'walking' | 'offbeat' | 'halves' | 'drone';

interface Profile {
  bpm: [number, number];
  scales: ReadonlyArray<readonly number[]>;
  lead: readonly Wave[];
  bass: Wave;
  bassStyle: BassStyle;
  drums: Drums;
  /** Melody notes per beat to choose from. */
  density: readonly number[];
  pad: boolean;
  /** Feedback echo (seconds of delay), or 0. */
  echo: number;
  swing: boolean;
  beatsPerChord: number;
}

const SCALES = {
  major: [0, 2, 4, 5, 7, 9, 11],
  minor: [0, 2, 3, 5, 7, 8, 10],
  dorian: [0, 2, 3, 5, 7, 9, 10],
  mixolydian: [0, 2, 4, 5, 7, 9, 10],
  phrygian: [0, 1, 3, 5, 7, 8, 10],
  lydian: [0, 2, 4, 6, 7, 9, 11],
  pentaMajor: [0, 2, 4, 7, 9],
  pentaMinor: [0, 3, 5, 7, 10],
} as const;

const PROFILES: Record<string, Profile> = {
  rock: {
    bpm: [108, 152],
    scales: [SCALES.pentaMinor, SCALES.mixolydian, SCALES.minor],
    lead: ['saw', 'square'],
    bass: 'saw',
    bassStyle: 'eighths',
    drums: 'rock',
    density: [2, 2, 1],
    pad: false,
    echo: 0,
    swing: false,
    beatsPerChord: 4,
  },
  jazz: {
    bpm: [88, 140],
    scales: [SCALES.dorian, SCALES.mixolydian, SCALES.major],
    lead: ['epiano', 'sine'],
    bass: 'triangle',
    bassStyle: 'walking',
    drums: 'swing',
    density: [2, 1, 3],
    pad: true,
    echo: 0,
    swing: true,
    beatsPerChord: 4,
  },
  electronic: {
    bpm: [118, 132],
    scales: [SCALES.minor, SCALES.phrygian, SCALES.pentaMinor],
    lead: ['square', 'saw', 'triangle'],
    bass: 'square',
    bassStyle: 'offbeat',
    drums: 'four',
    density: [4, 2],
    pad: true,
    echo: 0.375,
    swing: false,
    beatsPerChord: 4,
  },
  ambient: {
    bpm: [56, 76],
    scales: [SCALES.lydian, SCALES.pentaMajor, SCALES.major],
    lead: ['sine', 'triangle'],
    bass: 'sine',
    bassStyle: 'drone',
    drums: 'none',
    density: [0.5, 1],
    pad: true,
    echo: 0.6,
    swing: false,
    beatsPerChord: 8,
  },
  folk: {
    bpm: [84, 124],
    scales: [SCALES.major, SCALES.dorian, SCALES.pentaMajor],
    lead: ['pluck'],
    bass: 'triangle',
    bassStyle: 'halves',
    drums: 'brush',
    density: [2, 1],
    pad: false,
    echo: 0,
    swing: false,
    beatsPerChord: 4,
  },
};

export const STYLES = Object.keys(PROFILES);

export interface TrackSpec {
  /** Anything unique and stable, e.g. "artist/album/title". */
  seed: string;
  /** One of STYLES; anything else falls back to folk. */
  style: string;
  durationMs: number;
}

/** Number of samples `renderTrack` produces for a duration. */
export function sampleCount(durationMs: number): number {
  return Math.round((durationMs * SAMPLE_RATE) / 1000);
}

/** Renders one track as mono samples in [-1, 1]. */
export function renderTrack(spec: TrackSpec): Float32Array {
  const rnd = new Random(spec.seed);
  const profile = PROFILES[spec.style] ?? PROFILES.folk!;
  const out = new Float32Array(sampleCount(spec.durationMs));
  const bpm = rnd.int(profile.bpm[0], profile.bpm[1]);
  const beat = (60 / bpm) * SAMPLE_RATE; // samples per beat
  const scale = rnd.pick(profile.scales);
  const root = rnd.int(45, 56); // A2..G#3
  const lead = rnd.pick(profile.lead);
  const density = rnd.pick(profile.density);
  const progression = [0, ...Array.from({ length: 3 }, () => rnd.pick([3, 4, 5, 1, 2]))];
  const chordLen = profile.beatsPerChord * beat;
  const chords = Math.ceil(out.length / chordLen) + 1;
  const motif = makeMotif(rnd, profile.beatsPerChord * 2, density);
  const noise = new Random(rnd.int(1, 2 ** 31));

  for (let c = 0; c < chords; c++) {
    const degree = progression[c % progression.length]!;
    const start = c * chordLen;
    if (profile.pad) {
      for (const step of [0, 2, 4]) {
        const f = freq(root + 12 + note(scale, degree + step));
        addNote(out, start, chordLen, f, 'triangle', 0.06, 0.4, 0.4, 0.8);
        addNote(out, start, chordLen, f * 1.004, 'sine', 0.05, 0.4, 0.4, 0.8);
      }
    }
    addBass(out, profile, rnd, start, beat, root, scale, degree);
    // The melody repeats a two-chord motif, moved to each chord, with a few mutations.
    const half = c % 2;
    for (const n of motif) {
      if (n.beat < half * profile.beatsPerChord || n.beat >= (half + 1) * profile.beatsPerChord) continue;
      const mutated = rnd.chance(0.2) ? n.degree + rnd.pick([-2, -1, 1, 2]) : n.degree;
      let at = start + (n.beat - half * profile.beatsPerChord) * beat;
      if (profile.swing && n.beat % 1 === 0.5) at += beat / 6;
      const f = freq(root + 12 + note(scale, degree + mutated));
      if (lead === 'pluck') addPluck(out, at, n.length * beat * 1.5, f, 0.35, noise);
      else addNote(out, at, n.length * beat * 0.95, f, lead, leadLevel(lead), 0.01, 0.15, 0.6);
    }
    addDrums(out, profile.drums, start, profile.beatsPerChord, beat, noise);
  }
  if (profile.echo > 0) echo(out, Math.round(profile.echo * SAMPLE_RATE), 0.35);
  finish(out);
  return out;
}

interface MotifNote {
  beat: number;
  length: number;
  degree: number;
}

function makeMotif(rnd: Random, beats: number, perBeat: number): MotifNote[] {
  const step = 1 / perBeat;
  const notes: MotifNote[] = [];
  let degree = rnd.pick([0, 2, 4]);
  for (let b = 0; b < beats; b += step) {
    if (rnd.chance(0.15)) continue; // a rest
    const length = rnd.chance(0.2) && b + 2 * step <= beats ? 2 * step : step;
    notes.push({ beat: b, length, degree });
    degree = Math.max(-3, Math.min(9, degree + rnd.pick([-2, -1, -1, 0, 1, 1, 2, 3])));
    if (length > step) b += step;
  }
  return notes;
}

function addBass(
  out: Float32Array,
  profile: Profile,
  rnd: Random,
  start: number,
  beat: number,
  root: number,
  scale: readonly number[],
  degree: number,
): void {
  const base = root - 12 + note(scale, degree);
  const beats = profile.beatsPerChord;
  const play = (atBeat: number, lengthBeats: number, semis: number, level: number) =>
    addNote(
      out,
      start + atBeat * beat,
      lengthBeats * beat,
      freq(semis),
      profile.bass,
      level,
      0.005,
      0.05,
      0.7,
    );
  switch (profile.bassStyle) {
    case 'eighths':
      for (let b = 0; b < beats; b += 0.5) play(b, 0.45, base, 0.18);
      break;
    case 'walking':
      for (let b = 0; b < beats; b++) {
        const semis = b === 0 ? base : root - 12 + note(scale, degree + rnd.pick([1, 2, 4, -1]));
        play(b, 0.9, semis, 0.3);
      }
      break;
    case 'offbeat':
      for (let b = 0; b < beats; b++) play(b + 0.5, 0.4, base, 0.16);
      break;
    case 'halves':
      play(0, 1.8, base, 0.3);
      play(2, 1.8, base + 7, 0.25);
      break;
    case 'drone':
      play(0, beats, base, 0.25);
      break;
  }
}

function addDrums(
  out: Float32Array,
  kind: Drums,
  start: number,
  beats: number,
  beat: number,
  noise: Random,
): void {
  const sixteenth = beat / 4;
  for (let s = 0; s < beats * 4; s++) {
    const at = start + s * sixteenth;
    const inBar = s % 16;
    switch (kind) {
      case 'rock':
        if (inBar === 0 || inBar === 8 || inBar === 10) kick(out, at, 0.7);
        if (inBar === 4 || inBar === 12) snare(out, at, 0.45, noise);
        if (s % 2 === 0) hat(out, at, 0.12, 0.015, noise);
        break;
      case 'four':
        if (s % 4 === 0) kick(out, at, 0.8);
        if (s % 4 === 2) hat(out, at, 0.16, 0.02, noise);
        if (inBar === 4 || inBar === 12) snare(out, at, 0.25, noise);
        break;
      case 'swing':
        if (s % 4 === 0) hat(out, at, 0.09, 0.12, noise);
        if (s % 8 === 6) hat(out, at + sixteenth * 0.66, 0.07, 0.08, noise);
        if (inBar === 0) kick(out, at, 0.3);
        break;
      case 'brush':
        if (inBar === 0 || inBar === 8) kick(out, at, 0.35);
        if (inBar === 4 || inBar === 12) hat(out, at, 0.1, 0.06, noise);
        break;
      case 'none':
        return;
    }
  }
}

const note = (scale: readonly number[], degree: number): number => {
  const len = scale.length;
  const octave = Math.floor(degree / len);
  return octave * 12 + scale[((degree % len) + len) % len]!;
};

const freq = (midi: number): number => 440 * 2 ** ((midi - 69) / 12);

const leadLevel = (wave: Wave): number => (wave === 'saw' || wave === 'square' ? 0.12 : 0.25);

function oscillator(wave: Wave, phase: number): number {
  switch (wave) {
    case 'sine':
      return Math.sin(2 * Math.PI * phase);
    case 'triangle':
      return 4 * Math.abs(phase - 0.5) - 1;
    case 'saw':
      return 2 * phase - 1;
    case 'square':
      return phase < 0.5 ? 1 : -1;
    case 'epiano':
    case 'pluck':
      return Math.sin(2 * Math.PI * phase) + 0.3 * Math.sin(4 * Math.PI * phase);
  }
}

/** Adds one note with a linear attack, a decay towards `sustain` and a linear release. */
function addNote(
  out: Float32Array,
  start: number,
  length: number,
  f: number,
  wave: Wave,
  level: number,
  attackS: number,
  releaseS: number,
  sustain: number,
): void {
  const from = Math.max(0, Math.round(start));
  const to = Math.min(out.length, Math.round(start + length));
  const attack = Math.max(1, attackS * SAMPLE_RATE);
  const release = Math.max(1, releaseS * SAMPLE_RATE);
  // The decay is a running product rather than an exp() per sample: this loop is the hot path.
  const decayStep = Math.exp(-1 / (0.25 * SAMPLE_RATE));
  const step = f / SAMPLE_RATE;
  let phase = 0;
  let decay = 1;
  for (let i = from; i < to; i++) {
    const t = i - from;
    const env = Math.min(1, t / attack) * (sustain + (1 - sustain) * decay) * Math.min(1, (to - i) / release);
    decay *= decayStep;
    out[i]! += level * env * oscillator(wave, phase);
    phase += step;
    if (phase >= 1) phase -= 1;
  }
}

/** Karplus-Strong plucked string: a noise burst in a damped delay line. */
function addPluck(out: Float32Array, start: number, length: number, f: number, level: number, rnd: Random) {
  const from = Math.max(0, Math.round(start));
  const to = Math.min(out.length, Math.round(start + length));
  const period = Math.max(2, Math.round(SAMPLE_RATE / f));
  const line = new Float32Array(period);
  for (let i = 0; i < period; i++) line[i] = rnd.next() * 2 - 1;
  let idx = 0;
  for (let i = from; i < to; i++) {
    const next = (idx + 1) % period;
    const v = line[idx]!;
    line[idx] = 0.996 * 0.5 * (v + line[next]!);
    out[i]! += level * v * Math.min(1, (to - i) / 200);
    idx = next;
  }
}

function kick(out: Float32Array, start: number, level: number): void {
  const from = Math.round(start);
  const len = Math.round(0.25 * SAMPLE_RATE);
  let phase = 0;
  for (let t = 0; t < len && from + t < out.length; t++) {
    const s = t / SAMPLE_RATE;
    phase += (45 + 90 * Math.exp(-s / 0.03)) / SAMPLE_RATE;
    out[from + t]! += level * Math.exp(-s / 0.09) * Math.sin(2 * Math.PI * phase);
  }
}

function snare(out: Float32Array, start: number, level: number, rnd: Random): void {
  const from = Math.round(start);
  const len = Math.round(0.2 * SAMPLE_RATE);
  for (let t = 0; t < len && from + t < out.length; t++) {
    const s = t / SAMPLE_RATE;
    const body = Math.sin(2 * Math.PI * 185 * s) * Math.exp(-s / 0.04);
    out[from + t]! += level * (0.6 * (rnd.next() * 2 - 1) * Math.exp(-s / 0.055) + 0.4 * body);
  }
}

function hat(out: Float32Array, start: number, level: number, decayS: number, rnd: Random): void {
  const from = Math.round(start);
  const len = Math.round(decayS * 5 * SAMPLE_RATE);
  let prev = 0;
  for (let t = 0; t < len && from + t < out.length; t++) {
    const n = rnd.next() * 2 - 1;
    // A first difference tilts white noise towards the highs, which is what a cymbal is.
    out[from + t]! += level * (n - prev) * Math.exp(-t / SAMPLE_RATE / decayS);
    prev = n;
  }
}

function echo(out: Float32Array, delay: number, feedback: number): void {
  for (let i = delay; i < out.length; i++) out[i]! += feedback * out[i - delay]!;
}

/** Fades in and out and scales the peak to a comfortable level. */
function finish(out: Float32Array): void {
  const fadeIn = Math.min(out.length, Math.round(0.02 * SAMPLE_RATE));
  const fadeOut = Math.min(out.length, Math.round(1.5 * SAMPLE_RATE));
  for (let i = 0; i < fadeIn; i++) out[i]! *= i / fadeIn;
  for (let i = 0; i < fadeOut; i++) out[out.length - 1 - i]! *= i / fadeOut;
  let peak = 0;
  for (const v of out) peak = Math.max(peak, Math.abs(v));
  if (peak > 0) {
    const gain = 0.85 / peak;
    for (let i = 0; i < out.length; i++) out[i]! *= gain;
  }
}
