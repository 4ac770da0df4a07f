/**
 * Bounds that let the fast path prove a prediction without running the layers above the first.
 * docs/ads.md derives them; each function states the inequality it relies on.
 */
import * as tf from "@tensorflow/tfjs-core";

/**
 * Squarings of the Gram matrix in `spectralNormUpperBound`. After t squarings the bound exceeds
 * the spectral norm by a factor of at most d^(1 / 2^(t+1)) for a d x d Gram matrix: 1.013 for
 * d = 500 and t = 8.
 */
const GRAM_SQUARINGS = 8;

/**
 * Relative margin added to the spectral norm bound for the float32 rounding of the squarings,
 * whose relative error after the 2^t-th root is far below this.
 */
const SPECTRAL_SAFETY = 1e-2;

/**
 * Returns an upper bound of the spectral norm (largest singular value) of `kernel`.
 *
 * With A = K^T K (or K K^T, whichever is smaller) and p = 2^t, the largest eigenvalue satisfies
 * lambda_max^p <= trace(A^p) because A is positive semi-definite. A^p comes from t squarings,
 * each rescaled to unit Frobenius norm to stay within float32 range, with the scales summed as
 * logarithms. The bound is sqrt(trace(A^p)^(1/p)), plus SPECTRAL_SAFETY.
 */
export function spectralNormUpperBound(kernel: tf.Tensor2D): number {
  const [rows, cols] = kernel.shape;
  let logScale = 0; // A^(2^t) = exp(logScale) * current
  let current = tf.tidy(() => {
    const transposed = tf.transpose(kernel);
    return rows <= cols
      ? tf.matMul(kernel, transposed) // [rows, rows]
      : tf.matMul(transposed, kernel); // [cols, cols]
  });
  try {
    for (let step = 0; step < GRAM_SQUARINGS; step++) {
      const frobenius = scalarValue(tf.tidy(() => tf.norm(current)));
      if (!(frobenius > 0)) return 0;
      const next = tf.tidy(() => {
        const scaled = tf.div(current, frobenius);
        return tf.matMul(scaled, scaled);
      });
      current.dispose();
      current = next;
      logScale = 2 * (logScale + Math.log(frobenius));
    }
    const trace = scalarValue(
      tf.tidy(() => tf.sum(tf.mul(current, tf.eye(current.shape[0])))),
    );
    if (!(trace > 0)) return 0;
    const power = 2 ** GRAM_SQUARINGS;
    const logLambda = (logScale + Math.log(trace)) / power;
    return Math.exp(logLambda / 2) * (1 + SPECTRAL_SAFETY);
  } finally {
    current.dispose();
  }
}

/** Reads a scalar tensor and disposes it. */
function scalarValue(tensor: tf.Tensor): number {
  try {
    return tensor.dataSync()[0]!;
  } finally {
    tensor.dispose();
  }
}

/**
 * Returns a lower bound of the spectral norm by power iteration on K^T K, for tests of the upper
 * bound.
 */
export function spectralNormByPowerIteration(
  kernel: tf.Tensor2D,
  iterations = 100,
): number {
  return tf.tidy(() => {
    const transposed = tf.transpose(kernel);
    let vector = tf.ones([kernel.shape[1], 1]) as tf.Tensor2D;
    let norm = 0;
    for (let i = 0; i < iterations; i++) {
      const image = tf.matMul(kernel, vector);
      norm = tf.norm(image).arraySync() as number;
      const back = tf.matMul(transposed, image);
      vector = tf.div(back, tf.norm(back)) as tf.Tensor2D;
    }
    return norm;
  });
}

/**
 * Bounds how far a layer's normalised input can move when its activity vector moves by at most
 * `change` from a vector of L2 length `length`.
 *
 * The normalisation is N(x) = c x / (|x| + e), with c = 1 and e = NORM_EPSILON for "l2", and
 * c = sqrt(width), e = sqrt(width) * NORM_EPSILON for "rms". Writing N(x) = c phi(|x|) u with
 * phi(r) = r / (r + e) and u = x / |x|:
 * |N(x') - N(x)| <= c (|phi(r') - phi(r)| + phi(r) |u' - u|), where
 * |phi(r') - phi(r)| = e |r' - r| / ((r + e)(r' + e)) and, in an inner product space,
 * |u' - u| <= 2 |x' - x| / (|x| + |x'|) (the Dunkl-Williams inequality). Because |N| < c, the
 * change never exceeds 2c, which is also the bound when `change` reaches `length`.
 */
export function normalizedChangeBound(
  length: number,
  change: number,
  width: number,
  normalization: "l2" | "rms",
  normEpsilon: number,
): number {
  const scale = normalization === "rms" ? Math.sqrt(width) : 1;
  const epsilon = scale * normEpsilon;
  if (!(change < length)) return 2 * scale;
  const shortest = length - change;
  const lengthPart =
    (epsilon * change) / ((length + epsilon) * (shortest + epsilon));
  const directionPart =
    (length / (length + epsilon)) * ((2 * change) / (length + shortest));
  return Math.min(scale * (lengthPart + directionPart), 2 * scale);
}

/**
 * Bounds the change of a layer's goodness when its activity moves by at most `change` from a
 * vector of L2 length `length`: g = w |a|^2 with w = 1/units (mean) or 1 (sum), so
 * |g' - g| = w (|a'| + |a|) ||a'| - |a|| <= w (2 |a| + change) change.
 */
export function goodnessChangeBound(
  length: number,
  change: number,
  goodnessWeight: number,
): number {
  return goodnessWeight * (2 * length + change) * change;
}
