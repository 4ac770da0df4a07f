/**
 * A small seeded pseudo-random generator (mulberry32), so that weight initialisation, shuffling and
 * negative labels repeat exactly for the same seed, whatever the tfjs backend.
 */
export class SeededRandom {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** Returns a float in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** Returns an integer in [0, bound). */
  nextInt(bound: number): number {
    return Math.floor(this.next() * bound);
  }

  /** Fills a new Float32Array with values drawn uniformly from [low, high). */
  uniform(length: number, low: number, high: number): Float32Array {
    const values = new Float32Array(length);
    for (let i = 0; i < length; i++)
      values[i] = low + (high - low) * this.next();
    return values;
  }

  /** Returns a random permutation of 0..length-1 (Fisher-Yates). */
  permutation(length: number): Int32Array {
    const order = new Int32Array(length);
    for (let i = 0; i < length; i++) order[i] = i;
    for (let i = length - 1; i > 0; i--) {
      const j = this.nextInt(i + 1);
      const swap = order[i]!;
      order[i] = order[j]!;
      order[j] = swap;
    }
    return order;
  }
}
