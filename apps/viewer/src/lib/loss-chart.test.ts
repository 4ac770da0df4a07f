import { describe, expect, it } from "vitest";
import {
  MAX_POINTS_PER_CURVE,
  lossChartGeometry,
  niceTicks,
} from "./loss-chart.ts";

const box = {
  width: 120,
  height: 70,
  margin: { left: 10, bottom: 10, right: 10, top: 10 },
};

describe("niceTicks", () => {
  it("uses steps of 1, 2 or 5 times a power of ten", () => {
    expect(niceTicks(0, 1, 5)).toEqual([0, 0.5, 1]);
    expect(niceTicks(0.3, 1.7, 5)).toEqual([0, 0.5, 1, 1.5, 2]);
    expect(niceTicks(1, 30, 6)).toEqual([0, 10, 20, 30]);
    expect(niceTicks(2, 2, 5)).toEqual([2]);
  });
});

describe("lossChartGeometry", () => {
  it("maps epochs and losses onto the plot area", () => {
    const geometry = lossChartGeometry([[2, 1, 0]], box);
    // Plot area: x from 10 to 110, y from 10 (loss 2) to 60 (loss 0).
    expect(geometry.paths[0]).toBe("M10.0,10.0 L60.0,35.0 L110.0,60.0");
    expect(geometry.yTicks.map((tick) => tick.value)).toEqual([
      0, 0.5, 1, 1.5, 2,
    ]);
    expect(geometry.yTicks[0]!.position).toBe(60);
  });

  it("breaks a curve at NaN", () => {
    const geometry = lossChartGeometry([[1, Number.NaN, 0]], box);
    expect(geometry.paths[0]).toBe("M10.0,10.0 M110.0,60.0");
  });

  it("thins long curves and keeps the last point", () => {
    const curve = Array.from({ length: 5000 }, (_, i) => 1 / (i + 1));
    const path = lossChartGeometry([curve], box).paths[0]!;
    const points = path.split(" ");
    expect(points.length).toBeLessThanOrEqual(MAX_POINTS_PER_CURVE + 1);
    expect(points[points.length - 1]).toMatch(/^L110\.0,/);
  });

  it("handles a layer with no finite loss", () => {
    const geometry = lossChartGeometry([[Number.NaN], [1, 1]], box);
    expect(geometry.paths[0]).toBe("");
    expect(geometry.paths[1]).toBe("M10.0,35.0 L110.0,35.0");
  });
});
