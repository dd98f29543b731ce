// Whole arrays of 16-bit floats (F16, BF16) to and from float32, for the tensors of
// safetensors files: read tensors are upcast (exactly), saved ones downcast (to nearest, ties
// to even) by the scalar conversions of half.ts. A finite value too large for the narrow type
// is an error naming it, never a silent inf.
//
// Glossary: n elements; bits the 16-bit patterns, in host order (little-endian on every host
// we know of, as the files are).

import { float32ToBfloat16, float32ToHalf, halfToFloat32 } from "../kernels/half.ts";

/** The 16-bit float dtypes of safetensors. */
export type HalfDType = "F16" | "BF16";

/** The dtypes a checkpoint's parameters can be saved in (dlrm train --save-dtype, dlrm convert --dtype). */
export type SaveDType = "F32" | HalfDType;

export const SAVE_DTYPES: readonly SaveDType[] = ["F32", "F16", "BF16"];

/** Bytes per element of a save dtype. */
export function saveDTypeSize(dtype: SaveDType): number {
  return dtype === "F32" ? 4 : 2;
}

/** Every half's float32 value, indexed by its bit pattern: built on first use (256 KiB). */
let halfTable: Float32Array | null = null;

function halfValues(): Float32Array {
  if (halfTable === null) {
    halfTable = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) halfTable[h] = halfToFloat32(h);
  }
  return halfTable;
}

/** into[i] = the float32 value of bits[i] (n = bits.length = into.length). */
export function upcastHalfs(dtype: HalfDType, bits: Uint16Array, into: Float32Array): void {
  if (bits.length !== into.length) throw new Error(`upcastHalfs: ${bits.length} values into ${into.length} places`);
  if (dtype === "BF16") {
    // A bfloat16 is the top half of a float32: shift the pattern up, as an integer.
    const out = new Uint32Array(into.buffer, into.byteOffset, into.length);
    for (let i = 0; i < bits.length; i++) out[i] = bits[i] << 16;
    return;
  }
  const table = halfValues();
  for (let i = 0; i < bits.length; i++) into[i] = table[bits[i]];
}

/** The float32 values of bits, in a new array. */
export function halfsToFloat32(dtype: HalfDType, bits: Uint16Array): Float32Array {
  const out = new Float32Array(bits.length);
  upcastHalfs(dtype, bits, out);
  return out;
}

/** The 16-bit patterns nearest values (ties to even); `what` names the tensor in the error
 *  raised for a finite value the dtype cannot hold (it would become inf). */
export function downcastToHalfs(
  dtype: HalfDType,
  values: Float32Array,
  what: string,
  into: Uint16Array = new Uint16Array(values.length),
): Uint16Array {
  if (values.length !== into.length)
    throw new Error(`downcastToHalfs: ${values.length} values into ${into.length} places`);
  const round = dtype === "F16" ? float32ToHalf : float32ToBfloat16;
  const infBits = dtype === "F16" ? 0x7c00 : 0x7f80;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    const h = round(v);
    if ((h & 0x7fff) === infBits && Number.isFinite(v)) {
      throw new Error(
        `${what}: element ${i} is ${v}, beyond the largest finite ${dtype} (${dtype === "F16" ? "65504" : "3.39e38"}); save it as f32${dtype === "F16" ? " or bf16" : ""}`,
      );
    }
    into[i] = h;
  }
  return into;
}
