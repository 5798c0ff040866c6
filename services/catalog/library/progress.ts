/**
 * A progress bar on a terminal: redrawn in place at most ten times a second, with the rate and
 * the time left. Nothing at all when the stream is not a terminal (a log, a pipe).
 */
export class ProgressBar {
  private started = 0;
  private drawn = 0;
  private readonly enabled: boolean;

  constructor(
    private readonly stream: NodeJS.WriteStream,
    private readonly label: string,
  ) {
    this.enabled = stream.isTTY === true;
  }

  update(done: number, total: number): void {
    if (!this.enabled) return;
    const now = performance.now();
    if (this.started === 0) this.started = now;
    if (done < total && now - this.drawn < 100) return;
    this.drawn = now;
    const width = Math.max(10, Math.min(40, (this.stream.columns ?? 80) - 60));
    const filled = total === 0 ? width : Math.round((done / total) * width);
    const seconds = (now - this.started) / 1000;
    const rate = seconds > 0 ? done / seconds : 0;
    const left = rate > 0 ? Math.ceil((total - done) / rate) : 0;
    this.stream.write(
      `\r${this.label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ` +
        `${done.toLocaleString('en')}/${total.toLocaleString('en')} ${Math.round(rate)}/s ${left}s left \x1b[K`,
    );
  }

  /** Leaves the bar's line (before other output). */
  end(): void {
    if (this.enabled && this.drawn > 0) this.stream.write('\n');
    this.drawn = 0;
  }
}
