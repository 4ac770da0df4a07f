import { PNG } from "pngjs";

import type { Rgb } from "../colormap.ts";
import { GLYPH_HEIGHT, GLYPH_WIDTH, glyphPixel } from "./font.ts";

/** An RGB image in memory, drawn on with integer coordinates and encoded as PNG. */
export class Raster {
  readonly width: number;
  readonly height: number;
  /** RGBA bytes, row-major; alpha is always 255. */
  readonly data: Uint8Array;

  constructor(width: number, height: number, background: Rgb) {
    this.width = width;
    this.height = height;
    this.data = new Uint8Array(width * height * 4);
    this.fillRect(0, 0, width, height, background);
  }

  /** Fills the rectangle [x, x + w) x [y, y + h), clipped to the raster. */
  fillRect(x: number, y: number, w: number, h: number, color: Rgb): void {
    const x0 = Math.max(0, x);
    const y0 = Math.max(0, y);
    const x1 = Math.min(this.width, x + w);
    const y1 = Math.min(this.height, y + h);
    for (let row = y0; row < y1; row++) {
      for (let col = x0; col < x1; col++) {
        const offset = (row * this.width + col) * 4;
        this.data[offset] = color[0];
        this.data[offset + 1] = color[1];
        this.data[offset + 2] = color[2];
        this.data[offset + 3] = 255;
      }
    }
  }

  /** Draws the outline of the rectangle, one pixel wide. */
  strokeRect(x: number, y: number, w: number, h: number, color: Rgb): void {
    this.fillRect(x, y, w, 1, color);
    this.fillRect(x, y + h - 1, w, 1, color);
    this.fillRect(x, y, 1, h, color);
    this.fillRect(x + w - 1, y, 1, h, color);
  }

  /** Draws `text` with its top-left corner at (x, y), each font pixel a `scale` x `scale` block. */
  drawText(
    x: number,
    y: number,
    text: string,
    color: Rgb,
    scale: number,
  ): void {
    [...text].forEach((character, index) => {
      const left = x + index * (GLYPH_WIDTH + 1) * scale;
      for (let row = 0; row < GLYPH_HEIGHT; row++) {
        for (let column = 0; column < GLYPH_WIDTH; column++) {
          if (glyphPixel(character, column, row)) {
            this.fillRect(
              left + column * scale,
              y + row * scale,
              scale,
              scale,
              color,
            );
          }
        }
      }
    });
  }

  /**
   * Draws a [rows, cols] grid of colours with its top-left corner at (x, y), each cell a
   * `scale` x `scale` block (nearest-neighbour upscaling).
   */
  drawCells(
    x: number,
    y: number,
    rows: number,
    cols: number,
    scale: number,
    colorOf: (row: number, col: number) => Rgb,
  ): void {
    for (let row = 0; row < rows; row++) {
      for (let col = 0; col < cols; col++) {
        this.fillRect(
          x + col * scale,
          y + row * scale,
          scale,
          scale,
          colorOf(row, col),
        );
      }
    }
  }

  /** Returns the colour at (x, y). */
  pixel(x: number, y: number): Rgb {
    const offset = (y * this.width + x) * 4;
    return [this.data[offset]!, this.data[offset + 1]!, this.data[offset + 2]!];
  }

  toPng(): Uint8Array {
    const png = new PNG({ width: this.width, height: this.height });
    png.data = Buffer.from(
      this.data.buffer,
      this.data.byteOffset,
      this.data.byteLength,
    );
    return new Uint8Array(PNG.sync.write(png));
  }
}
