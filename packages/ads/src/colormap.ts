/**
 * Colormaps shared by the PNG figures and the viewer, so that a value gets the same colour in both.
 * Colours are sRGB bytes, interpolated linearly between fixed control points.
 */

/** An sRGB colour as three bytes in [0, 255]. */
export type Rgb = readonly [number, number, number];

/**
 * `diverging` is centred on zero, for signed maps such as ADS. `sequential` runs from zero to a
 * maximum, for magnitudes.
 */
export type ColormapName = "diverging" | "sequential";

/**
 * The colour of NaN (for example a class map with no image of that class): mid grey, which neither
 * colormap contains.
 */
export const NAN_COLOR: Rgb = [128, 128, 128];

/**
 * Control points of each colormap, evenly spaced from its low end to its high end.
 *
 * `diverging` is ColorBrewer's 11-class RdBu in reverse order (blue for negative, red for
 * positive), with the centre #f7f7f7 replaced by white so that zero is white. `sequential` is
 * ColorBrewer's 9-class Reds with its first colour #fff5f0 replaced by white, so zero is white in
 * both maps.
 */
export const COLORMAP_STOPS: Readonly<Record<ColormapName, readonly Rgb[]>> = {
  diverging: [
    [5, 48, 97],
    [33, 102, 172],
    [67, 147, 195],
    [146, 197, 222],
    [209, 229, 240],
    [255, 255, 255],
    [253, 219, 199],
    [244, 165, 130],
    [214, 96, 77],
    [178, 24, 43],
    [103, 0, 31],
  ],
  sequential: [
    [255, 255, 255],
    [254, 224, 210],
    [252, 187, 161],
    [252, 146, 114],
    [251, 106, 74],
    [239, 59, 44],
    [203, 24, 29],
    [165, 15, 21],
    [103, 0, 13],
  ],
};

/**
 * Maps `value` to a colour of the diverging colormap over the symmetric range
 * [-maxAbs, maxAbs]: 0 is white, -maxAbs and below the blue end, +maxAbs and above the red end.
 * NaN is NAN_COLOR. With a `maxAbs` that is not positive, 0 is white and any other value takes
 * the end of its sign.
 */
export function divergingColor(value: number, maxAbs: number): Rgb {
  return colormapColor("diverging", value, maxAbs);
}

/**
 * Maps `value` to a colour of the sequential colormap over [0, max]: 0 and below are white,
 * `max` and above the dark red end. NaN is NAN_COLOR.
 */
export function sequentialColor(value: number, max: number): Rgb {
  return colormapColor("sequential", value, max);
}

/** Maps `value` to a colour of the named colormap over the range that `range` bounds. */
export function colormapColor(
  name: ColormapName,
  value: number,
  range: number,
): Rgb {
  const position = colormapPosition(name, value, range);
  return Number.isNaN(position) ? NAN_COLOR : colorAt(name, position);
}

/**
 * Returns where `value` falls along the named colormap, from 0 (low end) to 1 (high end), after
 * clipping to the range. Returns NaN for NaN.
 */
export function colormapPosition(
  name: ColormapName,
  value: number,
  range: number,
): number {
  if (Number.isNaN(value)) return Number.NaN;
  const scaled = range > 0 ? value / range : Math.sign(value);
  if (name === "diverging") return (clamp(scaled, -1, 1) + 1) / 2;
  return clamp(scaled, 0, 1);
}

/** Returns the colour at `position` in [0, 1] along the named colormap; positions outside clip. */
export function colorAt(name: ColormapName, position: number): Rgb {
  const stops = COLORMAP_STOPS[name];
  const scaled = clamp(position, 0, 1) * (stops.length - 1);
  const lower = Math.min(Math.floor(scaled), stops.length - 2);
  const fraction = scaled - lower;
  const from = stops[lower]!;
  const to = stops[lower + 1]!;
  return [
    Math.round(from[0] + (to[0] - from[0]) * fraction),
    Math.round(from[1] + (to[1] - from[1]) * fraction),
    Math.round(from[2] + (to[2] - from[2]) * fraction),
  ];
}

/**
 * Writes the colour of each value into `rgba` (4 bytes per value, alpha 255) and returns it, e.g.
 * for an ImageData or a PNG row buffer.
 */
export function writeColormapRgba(
  name: ColormapName,
  values: ArrayLike<number>,
  range: number,
  rgba: Uint8Array | Uint8ClampedArray = new Uint8ClampedArray(
    values.length * 4,
  ),
): Uint8Array | Uint8ClampedArray {
  if (rgba.length < values.length * 4) {
    throw new RangeError(
      `rgba has ${rgba.length} bytes, but ${values.length} values need ${values.length * 4}`,
    );
  }
  for (let i = 0; i < values.length; i++) {
    const [red, green, blue] = colormapColor(name, values[i]!, range);
    rgba[i * 4] = red;
    rgba[i * 4 + 1] = green;
    rgba[i * 4 + 2] = blue;
    rgba[i * 4 + 3] = 255;
  }
  return rgba;
}

function clamp(value: number, low: number, high: number): number {
  return Math.min(high, Math.max(low, value));
}
