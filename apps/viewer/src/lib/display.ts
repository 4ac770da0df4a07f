/**
 * Turns map values into the pixels, colour ranges and labels that the viewer shows. Plain
 * functions, so unit tests can check them without a browser.
 */
import { colormapColor, type ColormapName } from "@ffads/ads/format";

/** A filter on the sign of map values: `positive` and `negative` set the other values to 0. */
export type SignFilter = "all" | "positive" | "negative" | "absolute";

/** The source of the map drawn over each sample image: its class, the dataset or the image. */
export type OverlaySource = "class" | "dataset" | "image";

/** The controls that change how maps are coloured. */
export interface DisplaySettings {
  colormap: ColormapName;
  sign: SignFilter;
  /** Percentile of |value| that sets the end of the colour range, in [50, 100]. */
  clipPercentile: number;
  /** Opacity of a map drawn over a sample image, in [0, 1]. */
  opacity: number;
}

export const DEFAULT_SETTINGS: DisplaySettings = {
  colormap: "diverging",
  sign: "all",
  clipPercentile: 100,
  opacity: 0.6,
};

/**
 * Applies the sign filter to a value, then takes its magnitude for the sequential colormap, which
 * shows magnitudes. NaN stays NaN.
 */
export function displayValue(
  value: number,
  settings: Pick<DisplaySettings, "colormap" | "sign">,
): number {
  let filtered = value;
  if (settings.sign === "positive") filtered = value < 0 ? 0 : value;
  else if (settings.sign === "negative") filtered = value > 0 ? 0 : value;
  else if (settings.sign === "absolute") filtered = Math.abs(value);
  return settings.colormap === "sequential" ? Math.abs(filtered) : filtered;
}

/**
 * Returns the end of the colour range for a group of maps: the `clipPercentile` percentile of
 * |displayed value| over their finite values, so that values beyond it saturate. Returns 0 when no
 * value is finite.
 */
export function colorRange(
  maps: readonly ArrayLike<number>[],
  settings: DisplaySettings,
): number {
  const magnitudes: number[] = [];
  for (const map of maps) {
    for (let i = 0; i < map.length; i++) {
      const magnitude = Math.abs(displayValue(map[i]!, settings));
      if (Number.isFinite(magnitude)) magnitudes.push(magnitude);
    }
  }
  if (magnitudes.length === 0) return 0;
  magnitudes.sort((a, b) => a - b);
  return percentileOfSorted(magnitudes, settings.clipPercentile);
}

/**
 * Returns the p-th percentile (0 to 100) of ascending values, interpolating linearly between the
 * two nearest ranks as numpy.percentile does by default.
 */
export function percentileOfSorted(
  sorted: readonly number[],
  p: number,
): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = (Math.min(100, Math.max(0, p)) / 100) * (sorted.length - 1);
  const lower = Math.floor(rank);
  const upper = Math.min(lower + 1, sorted.length - 1);
  return sorted[lower]! + (sorted[upper]! - sorted[lower]!) * (rank - lower);
}

/**
 * Renders a map as RGBA pixels, one per value. Without `image`, each pixel is the map's colour.
 * With `image` (raw pixel values in [0, 1]), the colour is blended over the grayscale image with
 * `settings.opacity`.
 */
export function renderMapPixels(
  values: ArrayLike<number>,
  range: number,
  settings: DisplaySettings,
  image: ArrayLike<number> | null = null,
): Uint8ClampedArray<ArrayBuffer> {
  const rgba = new Uint8ClampedArray(values.length * 4);
  const alpha = image ? settings.opacity : 1;
  for (let i = 0; i < values.length; i++) {
    const color = colormapColor(
      settings.colormap,
      displayValue(values[i]!, settings),
      range,
    );
    const gray = image
      ? Math.round(Math.min(1, Math.max(0, image[i]!)) * 255)
      : 0;
    for (let channel = 0; channel < 3; channel++) {
      rgba[i * 4 + channel] = Math.round(
        (1 - alpha) * gray + alpha * color[channel]!,
      );
    }
    rgba[i * 4 + 3] = 255;
  }
  return rgba;
}

/** Renders a grayscale image (raw pixel values in [0, 1]) as RGBA pixels. */
export function renderGrayPixels(
  image: ArrayLike<number>,
): Uint8ClampedArray<ArrayBuffer> {
  const rgba = new Uint8ClampedArray(image.length * 4);
  for (let i = 0; i < image.length; i++) {
    const gray = Math.round(Math.min(1, Math.max(0, image[i]!)) * 255);
    rgba.set([gray, gray, gray, 255], i * 4);
  }
  return rgba;
}

/**
 * Formats a float32 value with the fewest significant digits that read back as the same float32,
 * so a tooltip shows the exact stored value without float64 noise (0.1, not 0.10000000149).
 */
export function formatFloat32(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  const stored = Math.fround(value);
  for (let digits = 1; digits <= 9; digits++) {
    const text = stored.toPrecision(digits);
    if (Math.fround(Number(text)) === stored) return String(Number(text));
  }
  return String(stored);
}

/** Formats a colorbar tick: a few significant digits and an explicit + on positive values. */
export function formatTick(value: number): string {
  if (value === 0) return "0";
  const text = String(Number(value.toPrecision(3)));
  return value > 0 ? `+${text}` : text;
}

/** Formats a fraction in [0, 1] as a percentage with one decimal, e.g. 0.9254 as "92.5%". */
export function formatPercent(fraction: number | null | undefined): string {
  if (fraction === null || fraction === undefined || Number.isNaN(fraction))
    return "n/a";
  return `${(fraction * 100).toFixed(1)}%`;
}

/** Returns the tick values of a colorbar from the low end to the high end. */
export function colorbarTicks(colormap: ColormapName, range: number): number[] {
  if (colormap === "sequential") return [0, range / 2, range];
  return [-range, -range / 2, 0, range / 2, range];
}

/** Returns the `index`-th map of a stack of maps `[count, rows, cols]` as a view. */
export function mapAt(
  data: Float32Array,
  index: number,
  rows: number,
  cols: number,
): Float32Array {
  const size = rows * cols;
  return data.subarray(index * size, (index + 1) * size);
}

/** The end of the colour range of each group of maps in a saliency folder. */
export interface MapRanges {
  /** The dataset-level map. */
  ads: number;
  /** All per-class maps together, so classes compare on one scale. */
  classAds: number;
  /** All per-image maps together. */
  sampleMaps: number;
}

/** Computes the colour ranges of a saliency folder's maps under the current settings. */
export function mapRanges(
  arrays: Record<string, { data: Float32Array }>,
  settings: DisplaySettings,
): MapRanges {
  const rangeOf = (name: string) => {
    const array = arrays[name];
    return array ? colorRange([array.data], settings) : 0;
  };
  return {
    ads: rangeOf("ads"),
    classAds: rangeOf("classAds"),
    sampleMaps: rangeOf("sampleMaps"),
  };
}

/** Returns the larger range of each group, to draw several runs on one scale. */
export function widestRanges(ranges: readonly MapRanges[]): MapRanges {
  const widest = (key: keyof MapRanges) =>
    Math.max(0, ...ranges.map((range) => range[key]));
  return {
    ads: widest("ads"),
    classAds: widest("classAds"),
    sampleMaps: widest("sampleMaps"),
  };
}
