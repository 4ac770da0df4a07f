import * as tf from "@tensorflow/tfjs-core";

/** PyTorch's defaults for Adam. */
const BETA1 = 0.9;
const BETA2 = 0.999;
const EPSILON = 1e-8;

/**
 * Adam for a fixed list of variables, with bias correction as in Kingma and Ba (2015). Written out
 * here (rather than tf.train.adam) so gradients computed in closed form apply without tf.grads.
 */
export class AdamOptimizer {
  private readonly firstMoments: tf.Variable[];
  private readonly secondMoments: tf.Variable[];
  private step = 0;

  constructor(
    private readonly variables: tf.Variable[],
    public learningRate: number,
  ) {
    this.firstMoments = variables.map((v) => zeroVariableLike(v));
    this.secondMoments = variables.map((v) => zeroVariableLike(v));
  }

  /** Applies one update; `gradients[i]` belongs to `variables[i]`. Does not dispose the gradients. */
  apply(gradients: tf.Tensor[]): void {
    this.step += 1;
    const correction1 = 1 - BETA1 ** this.step;
    const correction2 = 1 - BETA2 ** this.step;
    const stepSize = this.learningRate / correction1;
    tf.tidy(() => {
      this.variables.forEach((variable, i) => {
        const gradient = gradients[i]!;
        const m = this.firstMoments[i]!;
        const v = this.secondMoments[i]!;
        const newM = tf.add(tf.mul(m, BETA1), tf.mul(gradient, 1 - BETA1));
        const newV = tf.add(
          tf.mul(v, BETA2),
          tf.mul(tf.square(gradient), 1 - BETA2),
        );
        m.assign(newM);
        v.assign(newV);
        const denominator = tf.add(tf.sqrt(tf.div(newV, correction2)), EPSILON);
        variable.assign(
          tf.sub(variable, tf.mul(tf.div(newM, denominator), stepSize)),
        );
      });
    });
  }

  dispose(): void {
    for (const moment of [...this.firstMoments, ...this.secondMoments])
      moment.dispose();
  }
}

function zeroVariableLike(tensor: tf.Tensor): tf.Variable {
  const zeros = tf.zerosLike(tensor);
  const variable = tf.variable(zeros, false);
  zeros.dispose();
  return variable;
}
