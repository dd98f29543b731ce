// Module: a tree of named parameters and sub-modules, with PyTorch's state_dict naming
// (`child.grandchild.param`), so that checkpoints of the reference DLRM load unchanged.

import { OpError, formatShape, sameShape } from "../tensor/shape.ts";
import type { Tensor } from "../tensor/tensor.ts";

/** A trainable tensor: a leaf that requires a gradient. */
export function parameter(t: Tensor): Tensor {
  t.requiresGrad = true;
  return t;
}

export class Module {
  readonly #params = new Map<string, Tensor>();
  readonly #children = new Map<string, Module>();

  /** Register a parameter under `name` and return it. */
  protected registerParameter(name: string, t: Tensor): Tensor {
    this.#params.set(name, parameter(t));
    return t;
  }

  /** Register a sub-module under `name` and return it. */
  protected registerModule<M extends Module>(name: string, m: M): M {
    this.#children.set(name, m);
    return m;
  }

  /** Every parameter with its dotted name, in registration order (depth first). */
  namedParameters(prefix = ""): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    for (const [n, p] of this.#params) out.push([prefix + n, p]);
    for (const [n, m] of this.#children) out.push(...m.namedParameters(`${prefix}${n}.`));
    return out;
  }

  parameters(): Tensor[] {
    return this.namedParameters().map(([, p]) => p);
  }

  /** The parameters by name (the tensors themselves, not copies). */
  stateDict(): Map<string, Tensor> {
    return new Map(this.namedParameters());
  }

  /**
   * Copy values into the parameters. Every parameter must be present with its exact
   * shape, and (strict) no unknown name may be given; nothing is written unless all checks
   * pass, so a failed load leaves the model as it was.
   */
  loadStateDict(
    state: ReadonlyMap<string, { shape: readonly number[]; data: ArrayLike<number> }>,
    opts: { strict?: boolean; source?: string } = {},
  ): void {
    const where = opts.source !== undefined ? ` (${opts.source})` : "";
    const own = this.stateDict();
    for (const [name, p] of own) {
      const s = state.get(name);
      if (s === undefined)
        throw new OpError("loadStateDict", `missing tensor "${name}"${where}, expected shape ${formatShape(p.shape)}`);
      if (!sameShape(s.shape, p.shape)) {
        throw new OpError(
          "loadStateDict",
          `tensor "${name}"${where} has shape ${formatShape(s.shape)} but the model expects ${formatShape(p.shape)}`,
        );
      }
    }
    if (opts.strict ?? true) {
      for (const name of state.keys()) {
        if (!own.has(name))
          throw new OpError("loadStateDict", `unexpected tensor "${name}"${where}: the model has no such parameter`);
      }
    }
    for (const [name, p] of own) {
      p.data.set((state.get(name) as { data: ArrayLike<number> }).data);
      p.markModified();
    }
  }

  zeroGrad(): void {
    for (const p of this.parameters()) p.zeroGrad();
  }
}

/**
 * A module whose parameters are added at dotted paths ("3.proj.weight"), the children on
 * the way made as needed: for parameters whose names come from elsewhere (DLRM's tables,
 * named by their layout, src/dlrm/tables/).
 */
export class ParameterTree extends Module {
  readonly #kids = new Map<string, ParameterTree>();

  /** Register t at path (relative to this module) and return it. */
  add(path: string, t: Tensor): Tensor {
    const dot = path.indexOf(".");
    if (dot < 0) return this.registerParameter(path, t);
    const first = path.slice(0, dot);
    let kid = this.#kids.get(first);
    if (kid === undefined) {
      kid = this.registerModule(first, new ParameterTree());
      this.#kids.set(first, kid);
    }
    return kid.add(path.slice(dot + 1), t);
  }
}
