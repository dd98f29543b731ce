// When a saturated loss means divergence. A batch loss above the trainer's SATURATED_LOSS
// says the predictions sit at 0 or 1; after the run has had a step below it, the parameters
// went there and the run stops. A model can also start there: the reference initialises
// quotient-remainder tables uniformly in [√(1/n), 1] (its `nn.init.uniform_(w, np.sqrt(1/n))`
// sets the lower bound), so the products of a small QR model's halves push the top MLP's
// input far from 0 and the first predictions saturate. Nothing has diverged before a step:
// the reference's run goes on (its BCE is bounded) and so does ours, after saying so once.

export class SaturationWatch {
  #beenBelow = false;
  #told = false;

  readonly #limit: number;
  readonly #onInitial: ((step: number, loss: number) => void) | undefined;

  /** `onInitial` hears the first saturated step of a run that has not yet been below `limit`. */
  constructor(limit: number, onInitial?: (step: number, loss: number) => void) {
    this.#limit = limit;
    this.#onInitial = onInitial;
  }

  /** Whether this step's loss is divergence: above the limit after a step below it. */
  diverged(step: number, loss: number): boolean {
    if (loss <= this.#limit) {
      this.#beenBelow = true;
      return false;
    }
    if (this.#beenBelow) return true;
    if (!this.#told) this.#onInitial?.(step, loss);
    this.#told = true;
    return false;
  }
}
