/**
 * A 3 x 5 pixel bitmap font for figure labels: digits, upper-case letters and a few symbols.
 * Lower-case letters are drawn as upper-case; characters without a glyph are drawn as a box.
 */

export const GLYPH_WIDTH = 3;
export const GLYPH_HEIGHT = 5;

/** Each glyph is five rows, top first, of three bits, left first ("1" = ink). */
const GLYPHS: Readonly<Record<string, string>> = {
  "0": "111 101 101 101 111",
  "1": "010 110 010 010 111",
  "2": "111 001 111 100 111",
  "3": "111 001 111 001 111",
  "4": "101 101 111 001 001",
  "5": "111 100 111 001 111",
  "6": "111 100 111 101 111",
  "7": "111 001 001 001 001",
  "8": "111 101 111 101 111",
  "9": "111 101 111 001 111",
  A: "010 101 111 101 101",
  B: "110 101 110 101 110",
  C: "011 100 100 100 011",
  D: "110 101 101 101 110",
  E: "111 100 110 100 111",
  F: "111 100 110 100 100",
  G: "011 100 101 101 011",
  H: "101 101 111 101 101",
  I: "111 010 010 010 111",
  J: "001 001 001 101 010",
  K: "101 101 110 101 101",
  L: "100 100 100 100 111",
  M: "101 111 111 101 101",
  N: "110 101 101 101 101",
  O: "010 101 101 101 010",
  P: "110 101 110 100 100",
  Q: "010 101 101 110 011",
  R: "110 101 110 101 101",
  S: "011 100 010 001 110",
  T: "111 010 010 010 010",
  U: "101 101 101 101 111",
  V: "101 101 101 101 010",
  W: "101 101 111 111 101",
  X: "101 101 010 101 101",
  Y: "101 101 010 010 010",
  Z: "111 001 010 100 111",
  " ": "000 000 000 000 000",
  "-": "000 000 111 000 000",
  "+": "000 010 111 010 000",
  ".": "000 000 000 000 010",
  ",": "000 000 000 010 100",
  ":": "000 010 000 010 000",
  "/": "001 001 010 100 100",
  "(": "010 100 100 100 010",
  ")": "010 001 001 001 010",
  "=": "000 111 000 111 000",
  ">": "100 010 001 010 100",
  "%": "101 001 010 100 101",
};

const MISSING_GLYPH = "111 101 101 101 111";

/** Returns whether the pixel (column, row) of the glyph for `character` is ink. */
export function glyphPixel(
  character: string,
  column: number,
  row: number,
): boolean {
  const glyph = GLYPHS[character.toUpperCase()] ?? MISSING_GLYPH;
  return glyph[row * (GLYPH_WIDTH + 1) + column] === "1";
}

/** Width in pixels of `text` drawn at `scale`, with one blank glyph column between characters. */
export function textWidth(text: string, scale: number): number {
  if (text.length === 0) return 0;
  return (text.length * (GLYPH_WIDTH + 1) - 1) * scale;
}

/** Height in pixels of a line of text drawn at `scale`. */
export function textHeight(scale: number): number {
  return GLYPH_HEIGHT * scale;
}
