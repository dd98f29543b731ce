// The same DLRM under TorchRec's names (torchrec/models/dlrm.py): what `dlrm convert`
// renames, and the one tensor whose values move.
//
//   reference (ours)             TorchRec
//   bot_l.{2i}.weight|bias       dense_arch.model._mlp.{i}._linear.weight|bias
//   top_l.{2i}, i < k-1          over_arch.model.0._mlp.{i}._linear.weight|bias
//   top_l.{2(k-1)} (the last)    over_arch.model.1.weight|bias
//   emb_l.{t}.weight             sparse_arch.embedding_bag_collection.embedding_bags.<name_t>.weight
//
// The interaction's pairs come in another order. With T = [bottom, emb_0, …, emb_{F-1}] (N =
// F + 1 features), the reference takes the strict lower triangle of T·Tᵀ row by row: pair
// (i, j), j < i, at p(i, j) = i(i-1)/2 + j. TorchRec takes triu_indices(N, N, offset=1), the
// strict upper triangle row by row: pair (a, b), a < b, at q(a, b) = a·N - a(a+1)/2 + (b-a-1).
// T·Tᵀ is symmetric, so the pair {j, i} that the reference puts at p(i, j) TorchRec puts at
// q(j, i): the input columns E + p of the first top layer move to E + q; the first E columns
// (the bottom vector, passed on as is) stay. TorchRec has no self-interaction and no cat, and
// its OverArch needs two layers or more.
//
// TorchRec's DLRM_DCN (our interaction "dcn") has the same arches, with inter_arch a
// LowRankCrossNet whose parameters (inter_arch.crossnet.{W_kernels,V_kernels,bias}.{l}) we
// name as TorchRec does: they keep their names, and the first top layer reads x_L (B, N) in
// the one order both take, [bottom, emb_0, …], so no column moves.
//
// TorchRec's DLRM returns logits (no sigmoid; DLRMTrain trains it with BCE-with-logits); the
// reference applies a sigmoid after the last layer. The parameters are the same.
//
// Glossary: E embedding dim, F tables, N = F + 1 features, P = N(N-1)/2 pairs, k top layers.

export const TORCHREC_TABLE_PREFIX = "sparse_arch.embedding_bag_collection.embedding_bags.";

/** The table names TorchRec's DLRM example (torchrec_dlrm) gives Criteo's features: t_cat_0, t_cat_1, … */
export function defaultTableNames(F: number): string[] {
  return Array.from({ length: F }, (_, t) => `t_cat_${t}`);
}

/** perm[q] = p: TorchRec's pair column q holds the reference's pair column p (both counted after the E bottom columns). */
export function pairPermutation(F: number): Int32Array {
  const N = F + 1;
  const perm = new Int32Array((N * (N - 1)) / 2);
  for (let i = 0; i < N; i++) {
    for (let j = 0; j < i; j++) {
      const p = (i * (i - 1)) / 2 + j; // reference: row i, column j < i
      const q = j * N - (j * (j + 1)) / 2 + (i - j - 1); // TorchRec: row j, column i > j
      perm[q] = p;
    }
  }
  return perm;
}

/**
 * The columns of a first top layer weight (out, E + P), moved from the reference's pair order
 * to TorchRec's ("torchrec") or back ("reference"), into a new array.
 */
export function permuteTopColumns(
  weight: Float32Array,
  out: number,
  E: number,
  F: number,
  to: "torchrec" | "reference",
): Float32Array {
  const perm = pairPermutation(F);
  const cols = E + perm.length;
  if (weight.length !== out * cols)
    throw new Error(`permuteTopColumns: a (${out}, ${cols}) weight has ${out * cols} elements, got ${weight.length}`);
  const moved = new Float32Array(weight.length);
  for (let r = 0; r < out; r++) {
    const row = r * cols;
    for (let c = 0; c < E; c++) moved[row + c] = weight[row + c];
    for (let q = 0; q < perm.length; q++) {
      const p = perm[q];
      if (to === "torchrec") moved[row + E + q] = weight[row + E + p];
      else moved[row + E + p] = weight[row + E + q];
    }
  }
  return moved;
}

/** The names of DLRM_DCN's L cross layers, which ours share (inter_arch.crossnet.*, src/dlrm/interaction_arch.ts). */
export function crossnetNames(L: number): string[] {
  return ["W_kernels", "V_kernels", "bias"].flatMap((what) =>
    Array.from({ length: L }, (_, l) => `inter_arch.crossnet.${what}.${l}`),
  );
}

/**
 * [reference name, TorchRec name] of every parameter of a DLRM with these Linear layer counts
 * and table names, in TorchRec's state_dict order (sparse, dense, inter, over); crossLayers > 0
 * for DLRM_DCN's cross layers, named alike on both sides.
 */
export function torchrecNamePairs(
  bottomLayers: number,
  topLayers: number,
  tableNames: readonly string[],
  crossLayers = 0,
): [string, string][] {
  const pairs: [string, string][] = [];
  tableNames.forEach((name, t) => pairs.push([`emb_l.${t}.weight`, `${TORCHREC_TABLE_PREFIX}${name}.weight`]));
  for (let i = 0; i < bottomLayers; i++)
    for (const k of ["weight", "bias"]) pairs.push([`bot_l.${2 * i}.${k}`, `dense_arch.model._mlp.${i}._linear.${k}`]);
  for (const name of crossnetNames(crossLayers)) pairs.push([name, name]);
  for (let i = 0; i < topLayers; i++) {
    for (const k of ["weight", "bias"])
      pairs.push([
        `top_l.${2 * i}.${k}`,
        i < topLayers - 1 ? `over_arch.model.0._mlp.${i}._linear.${k}` : `over_arch.model.1.${k}`,
      ]);
  }
  return pairs;
}

/** The TorchRec name of the first top layer's weight (the one whose columns move). */
export function torchrecFirstTopWeight(topLayers: number): string {
  return topLayers > 1 ? "over_arch.model.0._mlp.0._linear.weight" : "over_arch.model.1.weight";
}

/** Whether a state_dict name is TorchRec's DLRM's alone (inter_arch.crossnet.* are both sides'). */
export function isTorchrecName(name: string): boolean {
  return /^(sparse_arch|dense_arch|over_arch)\./.test(name);
}

/**
 * The table names of a TorchRec file in the model's feature order: `order` when given (every
 * name once), else sorted by their trailing number when they all share one prefix (t_cat_0,
 * t_cat_1, … t_cat_10: file order is alphabetical in PyTorch's safetensors writer, so it
 * cannot be trusted); otherwise the order is unknown and the error lists the names.
 */
export function torchrecTableOrder(
  names: readonly string[],
  order: readonly string[] | null,
  source: string,
): string[] {
  if (order !== null) {
    const missing = names.filter((n) => !order.includes(n));
    const unknown = order.filter((n) => !names.includes(n));
    if (missing.length > 0 || unknown.length > 0 || new Set(order).size !== order.length) {
      throw new Error(
        `${source}: --table-names must list the file's tables once each (${names.join(", ")})${missing.length > 0 ? `; missing ${missing.join(", ")}` : ""}${unknown.length > 0 ? `; not in the file: ${unknown.join(", ")}` : ""}`,
      );
    }
    return [...order];
  }
  const numbered = names.map((n) => /^(.*?)(\d+)$/.exec(n));
  const prefixes = new Set(numbered.map((m) => (m === null ? null : m[1])));
  if (numbered.some((m) => m === null) || prefixes.size > 1) {
    throw new Error(
      `${source}: cannot tell the order of the tables from their names (${names.join(", ")}); give --table-names in the order of the model's features`,
    );
  }
  return [...names].sort((a, b) => Number(/(\d+)$/.exec(a)?.[1]) - Number(/(\d+)$/.exec(b)?.[1]));
}
