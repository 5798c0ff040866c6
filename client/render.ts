/** Turning results into text: colours, aligned tables, durations and the progress bar. */

export interface Style {
  bold(s: string): string;
  dim(s: string): string;
  accent(s: string): string;
  good(s: string): string;
  bad(s: string): string;
}

const sgr = (open: number, close: number) => (s: string) => `\x1b[${open}m${s}\x1b[${close}m`;
const plain = (s: string) => s;

export function makeStyle(color: boolean): Style {
  if (!color) return { bold: plain, dim: plain, accent: plain, good: plain, bad: plain };
  return { bold: sgr(1, 22), dim: sgr(2, 22), accent: sgr(36, 39), good: sgr(32, 39), bad: sgr(31, 39) };
}

/** Colours only on a terminal, and never when NO_COLOR is set (https://no-color.org). */
export function colorWanted(stream: NodeJS.WriteStream): boolean {
  return Boolean(stream.isTTY) && !process.env.NO_COLOR;
}

export interface Column {
  header: string;
  align?: 'left' | 'right';
  /** Longer cells are cut with an ellipsis. */
  max?: number;
}

function clip(text: string, max: number | undefined): string {
  const flat = text.replace(/\s+/g, ' ');
  if (max === undefined || flat.length <= max) return flat;
  return `${flat.slice(0, Math.max(0, max - 1))}…`;
}

/** A table with a header line; columns padded to their widest cell. */
export function table(
  columns: Column[],
  rows: Array<Array<string | number | null | undefined>>,
  style: Style,
): string {
  if (rows.length === 0) return style.dim('(none)');
  const cells = rows.map((row) => columns.map((c, i) => clip(String(row[i] ?? ''), c.max)));
  const widths = columns.map((c, i) => Math.max(c.header.length, ...cells.map((r) => r[i]!.length)));
  const line = (values: string[], paint: (s: string) => string = plain) =>
    values
      .map((v, i) => {
        const w = widths[i]!;
        const last = i === values.length - 1;
        if (columns[i]!.align === 'right') return paint(v.padStart(w));
        return paint(last ? v : v.padEnd(w));
      })
      .join('  ');
  return [
    line(
      columns.map((c) => c.header),
      style.bold,
    ),
    ...cells.map((r) => line(r)),
  ].join('\n');
}

/** 3:07, or 1:02:03 past an hour. */
export function duration(ms: number): string {
  const total = Math.max(0, Math.floor(ms / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = String(total % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${s}` : `${m}:${s}`;
}

/** `[#########-----------] 1:02 / 3:07` */
export function progressBar(positionMs: number, durationMs: number, width = 30): string {
  const ratio = durationMs > 0 ? Math.min(1, Math.max(0, positionMs / durationMs)) : 1;
  const done = Math.round(ratio * width);
  return `[${'#'.repeat(done)}${'-'.repeat(width - done)}] ${duration(positionMs)} / ${duration(durationMs)}`;
}

/** `▶ Title — Artist  [####------] 1:02 / 3:07`, the title cut to fit `width` columns. */
export function nowPlaying(label: string, positionMs: number, durationMs: number, width: number): string {
  const bar = progressBar(positionMs, durationMs, Math.max(10, Math.min(30, width - 40)));
  return `▶ ${clip(label, Math.max(10, width - bar.length - 5))}  ${bar}`;
}

/** `2024-05-01 12:03` in local time: short enough for a table. */
export function when(iso: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}`;
}
