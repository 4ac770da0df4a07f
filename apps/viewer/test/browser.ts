/**
 * Chromium setup and canvas checks shared by the viewer's browser tests and the CLI's test on a
 * real run. It names no DOM types, so projects without the DOM library can import it.
 */
import { chromium, type BrowserContext, type Locator } from "playwright-core";
import { expect } from "vitest";

/** Flags for headless Debian Chromium on a machine with no network beyond loopback. */
export const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/** Colours of the diverging colormap: its centre and its two ends. */
export const WHITE = [255, 255, 255];
export const RED_END = [103, 0, 31];
export const BLUE_END = [5, 48, 97];

/** Starts Debian's Chromium with a fresh profile in `profileDir`. */
export function launchChromium(profileDir: string): Promise<BrowserContext> {
  return chromium.launchPersistentContext(profileDir, {
    executablePath: "/usr/bin/chromium",
    args: CHROMIUM_ARGS,
    headless: true,
    viewport: { width: 1400, height: 1000 },
  });
}

/** The part of a canvas element that `cellColor` uses. */
interface Canvas2d {
  getContext(contextId: "2d"): {
    getImageData(
      x: number,
      y: number,
      width: number,
      height: number,
    ): { data: ArrayLike<number> };
  } | null;
}

/** Reads the RGB colour of one cell of a canvas at its native size, once the canvas is drawn. */
export async function cellColor(
  canvas: Locator,
  row: number,
  col: number,
): Promise<number[]> {
  await canvas.waitFor();
  return canvas.evaluate(
    (element, [r, c]) => {
      const context = (element as unknown as Canvas2d).getContext("2d")!;
      const data = context.getImageData(c!, r!, 1, 1).data;
      return [data[0]!, data[1]!, data[2]!];
    },
    [row, col],
  );
}

/** Polls a cell until it has the expected colour, so a canvas drawn or redrawn late still passes. */
export async function expectCell(
  canvas: Locator,
  row: number,
  col: number,
  expected: readonly number[],
): Promise<void> {
  await expect
    .poll(() => cellColor(canvas, row, col), { timeout: 5000 })
    .toEqual([...expected]);
}
