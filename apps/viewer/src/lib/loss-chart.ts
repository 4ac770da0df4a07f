/** Geometry of the per-layer loss chart: SVG paths and axis ticks. */

export interface ChartBox {
  width: number;
  height: number;
  /** Space left of, below, right of and above the plot area, for the axes. */
  margin: { left: number; bottom: number; right: number; top: number };
}

export interface Tick {
  value: number;
  /** Position along the axis, in SVG units. */
  position: number;
}

export interface LossChartGeometry {
  /** One SVG path per layer; an empty string for a layer with no finite loss. */
  paths: string[];
  xTicks: Tick[];
  yTicks: Tick[];
  plot: { left: number; top: number; right: number; bottom: number };
}

/** Points drawn per curve at most; longer curves keep every n-th point and their last. */
export const MAX_POINTS_PER_CURVE = 800;

/**
 * Lays out one curve per layer on shared axes: x is the epoch of that layer (from 1), y the loss.
 * NaN losses break the line.
 */
export function lossChartGeometry(
  layers: readonly (readonly number[])[],
  box: ChartBox,
): LossChartGeometry {
  const plot = {
    left: box.margin.left,
    top: box.margin.top,
    right: box.width - box.margin.right,
    bottom: box.height - box.margin.bottom,
  };
  const epochCount = Math.max(1, ...layers.map((curve) => curve.length));
  // A loop, not Math.min(...values), because a long run has more losses than a call takes arguments.
  let low = Infinity;
  let high = -Infinity;
  for (const curve of layers) {
    for (const loss of curve) {
      if (!Number.isFinite(loss)) continue;
      low = Math.min(low, loss);
      high = Math.max(high, loss);
    }
  }
  if (low > high) {
    low = 0;
    high = 1;
  } else if (high === low) {
    low -= 0.5;
    high += 0.5;
  }

  const yTickValues = niceTicks(low, high, 5);
  low = Math.min(low, yTickValues[0]!);
  high = Math.max(high, yTickValues[yTickValues.length - 1]!);
  const xOf = (epoch: number) =>
    epochCount === 1
      ? plot.left
      : plot.left + ((epoch - 1) / (epochCount - 1)) * (plot.right - plot.left);
  const yOf = (loss: number) =>
    plot.bottom - ((loss - low) / (high - low)) * (plot.bottom - plot.top);

  const paths = layers.map((curve) => curvePath(curve, xOf, yOf));
  const xTicks = niceTicks(1, epochCount, 6)
    .filter(
      (epoch) => epoch >= 1 && epoch <= epochCount && Number.isInteger(epoch),
    )
    .map((epoch) => ({ value: epoch, position: xOf(epoch) }));
  const yTicks = yTickValues.map((value) => ({ value, position: yOf(value) }));
  return { paths, xTicks, yTicks, plot };
}

/**
 * Returns evenly spaced round tick values (steps of 1, 2 or 5 times a power of ten) that cover
 * [low, high] with about `count` ticks.
 */
export function niceTicks(low: number, high: number, count: number): number[] {
  if (!(high > low)) return [low];
  const rawStep = (high - low) / Math.max(1, count - 1);
  const power = 10 ** Math.floor(Math.log10(rawStep));
  const step = [1, 2, 5, 10]
    .map((factor) => factor * power)
    .find((candidate) => candidate >= rawStep)!;
  const first = Math.floor(low / step) * step;
  const ticks: number[] = [];
  for (let value = first; value <= high + step * 1e-9; value += step) {
    ticks.push(Number(value.toPrecision(12)));
  }
  if (ticks[ticks.length - 1]! < high)
    ticks.push(Number((first + ticks.length * step).toPrecision(12)));
  return ticks;
}

function curvePath(
  curve: readonly number[],
  xOf: (epoch: number) => number,
  yOf: (loss: number) => number,
): string {
  const stride = Math.max(1, Math.ceil(curve.length / MAX_POINTS_PER_CURVE));
  const commands: string[] = [];
  let penDown = false;
  for (let i = 0; i < curve.length; i++) {
    if (i % stride !== 0 && i !== curve.length - 1) continue;
    const loss = curve[i]!;
    if (!Number.isFinite(loss)) {
      penDown = false;
      continue;
    }
    commands.push(
      `${penDown ? "L" : "M"}${xOf(i + 1).toFixed(1)},${yOf(loss).toFixed(1)}`,
    );
    penDown = true;
  }
  return commands.join(" ");
}
