/**
 * Occlusion window geometry, as docs/ads.md defines it: window centres on the stride grid, k x k
 * windows clipped at the image border, and the averaging that turns per-window values into a map.
 */

/** One occlusion window: its place on the stride grid and the pixels it covers. */
export interface OcclusionWindow {
  /** Position of the window in the grid's row-major order. */
  index: number;
  gridRow: number;
  gridCol: number;
  /** The centre pixel, `(gridRow * stride, gridCol * stride)`. */
  centerRow: number;
  centerCol: number;
  /** Covered rows are `rowStart` to `rowEnd - 1`, after clipping at the border. */
  rowStart: number;
  rowEnd: number;
  colStart: number;
  colEnd: number;
  /**
   * Row-major indices of the covered pixels that occlusion may change, ascending: the pixels
   * before `protectedPixels` (an FF network's label pixels) are left out.
   */
  pixels: Int32Array;
}

/** The window grid of one image shape, window size and stride. */
export interface WindowGrid {
  imageShape: [number, number];
  windowSize: number;
  stride: number;
  /** `[gridRows, gridCols]`: grid point (i, j) is the centre pixel (i * stride, j * stride). */
  gridShape: [number, number];
  /** All windows, in row-major grid order. */
  windows: OcclusionWindow[];
}

/** Returns the centres along one axis: 0, stride, 2 * stride, ... below `size`. */
export function gridCenters(size: number, stride: number): number[] {
  const centers: number[] = [];
  for (let center = 0; center < size; center += stride) centers.push(center);
  return centers;
}

/**
 * Returns the covered range `[start, end)` along one axis for a window of `windowSize` pixels
 * centred on `center`: floor(k / 2) pixels before the centre and k - 1 - floor(k / 2) after it,
 * clipped to `[0, size)`. An odd k is symmetric; an even k spans k/2 before and k/2 - 1 after.
 */
export function windowSpan(
  center: number,
  windowSize: number,
  size: number,
): [number, number] {
  const before = Math.floor(windowSize / 2);
  const after = windowSize - 1 - before;
  return [Math.max(0, center - before), Math.min(size, center + after + 1)];
}

/**
 * Builds the windows of an image of `imageShape` (rows, cols): one per centre on the stride grid.
 * Pixels with a row-major index below `protectedPixels` are never part of a window's `pixels`.
 */
export function windowGrid(
  imageShape: [number, number],
  windowSize: number,
  stride: number,
  protectedPixels = 0,
): WindowGrid {
  const [rows, cols] = imageShape;
  const rowCenters = gridCenters(rows, stride);
  const colCenters = gridCenters(cols, stride);
  const windows: OcclusionWindow[] = [];
  rowCenters.forEach((centerRow, gridRow) => {
    const [rowStart, rowEnd] = windowSpan(centerRow, windowSize, rows);
    colCenters.forEach((centerCol, gridCol) => {
      const [colStart, colEnd] = windowSpan(centerCol, windowSize, cols);
      const pixels: number[] = [];
      for (let row = rowStart; row < rowEnd; row++) {
        for (let col = colStart; col < colEnd; col++) {
          const pixel = row * cols + col;
          if (pixel >= protectedPixels) pixels.push(pixel);
        }
      }
      windows.push({
        index: windows.length,
        gridRow,
        gridCol,
        centerRow,
        centerCol,
        rowStart,
        rowEnd,
        colStart,
        colEnd,
        pixels: Int32Array.from(pixels),
      });
    });
  });
  return {
    imageShape: [rows, cols],
    windowSize,
    stride,
    gridShape: [rowCenters.length, colCenters.length],
    windows,
  };
}

/**
 * Turns one value per window into a map of the image shape, row-major. With stride 1 every pixel
 * is a centre and takes its own window's value. With a larger stride each pixel takes the mean of
 * the values of the windows that cover it, summed in window order, and a pixel that no window
 * covers (possible when the stride exceeds the window size) is NaN.
 */
export function windowValuesToMap(
  grid: WindowGrid,
  values: ArrayLike<number>,
): Float32Array {
  const [rows, cols] = grid.imageShape;
  if (values.length !== grid.windows.length) {
    throw new RangeError(
      `expected ${grid.windows.length} window values, got ${values.length}`,
    );
  }
  const map = new Float32Array(rows * cols);
  if (grid.stride === 1) {
    for (const window of grid.windows) {
      map[window.centerRow * cols + window.centerCol] = values[window.index]!;
    }
    return map;
  }

  const sums = new Float64Array(rows * cols);
  const counts = new Int32Array(rows * cols);
  for (const window of grid.windows) {
    const value = values[window.index]!;
    for (let row = window.rowStart; row < window.rowEnd; row++) {
      for (let col = window.colStart; col < window.colEnd; col++) {
        sums[row * cols + col]! += value;
        counts[row * cols + col]! += 1;
      }
    }
  }
  for (let pixel = 0; pixel < map.length; pixel++) {
    map[pixel] =
      counts[pixel] === 0 ? Number.NaN : sums[pixel]! / counts[pixel]!;
  }
  return map;
}
