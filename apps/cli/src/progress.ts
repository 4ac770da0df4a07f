/** Terminal output of long work: a redrawn bar on a TTY, plain lines otherwise. Writes to stderr. */
export class ProgressBar {
  private readonly started = performance.now();
  private lastDrawMs = 0;
  private drawn = false;

  /**
   * @param write receives the text, normally `process.stderr.write`
   * @param interactive whether the output is a terminal, where the bar is redrawn in place
   * @param columns terminal width in characters, to keep the bar on one line
   */
  constructor(
    private readonly label: string,
    private readonly write: (text: string) => void,
    private readonly interactive: boolean,
    private readonly columns = 120,
  ) {}

  get isInteractive(): boolean {
    return this.interactive;
  }

  /** Redraws the bar, at most 10 times a second; `detail` follows the percentage. */
  update(completed: number, total: number, detail: string): void {
    if (!this.interactive) return;
    const now = performance.now();
    if (completed < total && now - this.lastDrawMs < 100) return;
    this.lastDrawMs = now;
    const fraction = total > 0 ? Math.min(1, completed / total) : 0;
    const width = 24;
    const filled = Math.round(fraction * width);
    const bar = `${"#".repeat(filled)}${"-".repeat(width - filled)}`;
    const eta = formatEta(now - this.started, fraction);
    const line = `${this.label} [${bar}] ${(fraction * 100).toFixed(0).padStart(3)}% ${detail} ETA ${eta}`;
    this.write(`\r\x1b[2K${line.slice(0, Math.max(20, this.columns - 1))}`);
    this.drawn = true;
  }

  /** Prints a line that stays: on a TTY above the bar, otherwise as it is. */
  log(line: string): void {
    if (this.interactive && this.drawn) this.write("\r\x1b[2K");
    this.write(`${line}\n`);
    this.drawn = false;
    this.lastDrawMs = 0;
  }

  /** Clears the bar. */
  finish(): void {
    if (this.interactive && this.drawn) this.write("\r\x1b[2K");
    this.drawn = false;
  }
}

/** Remaining time from the elapsed time and the fraction done, e.g. `2m05s`; `?` before any work. */
export function formatEta(elapsedMs: number, fraction: number): string {
  if (fraction <= 0) return "?";
  return formatDuration((elapsedMs / fraction) * (1 - fraction));
}

/** Formats milliseconds as `850ms`, `12.3s`, `4m05s` or `1h02m`. */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) return "?";
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const seconds = ms / 1000;
  if (seconds < 60) return `${seconds.toFixed(1)}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60)
    return `${minutes}m${String(Math.floor(seconds % 60)).padStart(2, "0")}s`;
  return `${Math.floor(minutes / 60)}h${String(minutes % 60).padStart(2, "0")}m`;
}
