;; quantized_bag.wat — pooled embedding lookups (forward only: inference) in tables held as
;; fbgemm's fused row-wise quantized rows, int8 or int4, with SIMD128.
;;
;; Glossary: B bags (batch), E embedding dim, R rows in the table, L lookups (indices),
;; q a quantized value, s and β a row's scale and bias, x̂ = q·s + β a dequantized value;
;; bag b holds lookups offsets[b] .. offsets[b+1]-1.
;;
;; The layouts (src/kernels/fused_rows.ts writes them; little-endian):
;;   bits 8: [E × u8 q][f32 s][f32 β]                    row stride E + 8 bytes
;;   bits 4: [ceil(E/2) bytes][f16 s][f16 β]             row stride ceil(E/2) + 4 bytes;
;;           element e in byte e>>1, even e in the low nibble
;;
;; The math: x̂[e] = f32(f32(q[e] · s) + β) for each row read, then embedding_bag_fwd's
;; pooling: out[b] = scale(b) · Σ_{l in bag b} w[l] · x̂(indices[l]) with w[l] = weights[l]
;; (or 1), scale(b) = 1/len(b) for mean, else 1; an empty bag gives zeros.
;;
;; The naive loop is in src/kernels/ref.ts (embedding_bag_fwd_quantized).
;;
;; Arithmetic: bit for bit the reference's, which is embedding_bag_fwd's on the dequantized
;; table: each x̂ is formed in f32 (a multiply, then an add: never fused, which would round
;; once instead of twice); an unweighted term is added in f32 in lookup order; a weighted
;; term w·x̂ and the mean's 1/len are done in f64 and rounded to f32 where the reference
;; stores (as kernels/embedding_bag.wat, "Arithmetic").
;;
;; Dequantizing: the hot loop (16 floats, unweighted) loads a block's 16 values as 16 bytes
;; (int8: as they are; int4: 8 bytes whose nibbles are spread apart — low: and 15, high: shift
;; right 4 — and interleaved in element order by one shuffle), widens them u8 → u16 → u32 and
;; converts to f32 (exact; the signed conversion, one instruction on x86 where the unsigned one
;; is a sequence, since q < 2^8), then times s, plus β. It is written out, without calls:
;; Node 20's V8 does not inline wasm calls, and the calls cost more than the arithmetic. The
;; other paths dequantize 4 values at a time through $deq4. An int4 row's f16 scale and bias
;; become f32 exactly ($half).
;;
;; The blocking: per bag, one pass over its lookups per block of the row, the block's sums
;; held in registers and stored once: 16 floats (4 f32x4) unweighted, 4 floats (2 f64x2,
;; each lane an f32 value held in f64) weighted; then 4-float blocks (unweighted), then
;; single floats in f64.
;;
;; Calling convention (byte addresses in the shared memory; sizes are element counts;
;; indices and offsets are int32; a weights address of 0 means no weights):
;;   embedding_bag_fwd_quantized_f32(B, E, mode, bits, table, R, indices, offsets, L, weights, out) → status
;;     mode 0 sum, 1 mean; bits 8 or 4 (anything else is taken as 4: the caller checks)
;;     offsets B+1 int32: 0 ≤ offsets[0] ≤ offsets[1] ≤ … ≤ offsets[B] ≤ L
;;   status: 0 done; l+1 when indices[l] is outside [0, R); -(b+1) when offsets[b+1] <
;;   offsets[b] or offsets[b+1] > L (-1 also for offsets[0] > L). The caller turns a
;;   non-zero status into an error; the output is then undefined.

(module
  (import "env" "memory" (memory 1 65536 shared))

  ;; half(h): the f32 value of binary16 bits h (exact: f16 values are f32 values). The
  ;; exponent and mantissa shifted into f32's fields read as a value 2^112 too small, for
  ;; normals and subnormals alike (an f32 subnormal then), so one exact multiply rebiases
  ;; them; exponent 31 (inf, NaN) keeps its payload under f32's all-ones exponent; then the sign.
  (func $half (param $h i32) (result f32)
    (local $m i32)
    (local.set $m (i32.shl (i32.and (local.get $h) (i32.const 0x7fff)) (i32.const 13)))
    (f32.reinterpret_i32 (i32.or
      (i32.shl (i32.and (local.get $h) (i32.const 0x8000)) (i32.const 16))
      (i32.reinterpret_f32 (select
        (f32.reinterpret_i32 (i32.or (local.get $m) (i32.const 0x7f800000)))
        (f32.mul (f32.reinterpret_i32 (local.get $m)) (f32.const 0x1p112))
        (i32.eq (i32.and (local.get $h) (i32.const 0x7c00)) (i32.const 0x7c00)))))))

  ;; half2(v): $half of the two f16 words in the low 4 bytes of v at once, widened to i32
  ;; lanes first: lane 0 = f32 of word 0 (the scale), lane 1 = f32 of word 1 (the bias)
  (func $half2 (param $v v128) (result v128)
    (local $h v128) (local $m v128)
    (local.set $h (i32x4.extend_low_i16x8_u (local.get $v)))
    (local.set $m (i32x4.shl (v128.and (local.get $h) (v128.const i32x4 0x7fff 0x7fff 0x7fff 0x7fff)) (i32.const 13)))
    (v128.or
      (i32x4.shl (v128.and (local.get $h) (v128.const i32x4 0x8000 0x8000 0x8000 0x8000)) (i32.const 16))
      (v128.bitselect
        (v128.or (local.get $m) (v128.const i32x4 0x7f800000 0x7f800000 0x7f800000 0x7f800000))
        (f32x4.mul (local.get $m) (v128.const f32x4 0x1p112 0x1p112 0x1p112 0x1p112))
        (i32x4.eq (v128.and (local.get $h) (v128.const i32x4 0x7c00 0x7c00 0x7c00 0x7c00))
                  (v128.const i32x4 0x7c00 0x7c00 0x7c00 0x7c00)))))

  ;; deq4(row, e, bits, vs, vb): x̂ of elements e .. e+3 (e a multiple of 4) of the row at byte `row`
  (func $deq4 (param $row i32) (param $e i32) (param $bits i32) (param $vs v128) (param $vb v128) (result v128)
    (local $v v128)
    (if (i32.eq (local.get $bits) (i32.const 8))
      (then (local.set $v (v128.load32_zero (i32.add (local.get $row) (local.get $e)))))
      (else
        (local.set $v (v128.load16_lane 0 (i32.add (local.get $row) (i32.shr_u (local.get $e) (i32.const 1)))
                                          (v128.const i32x4 0 0 0 0)))
        ;; bytes [b0, b1] → [b0 & 15, b0 >> 4, b1 & 15, b1 >> 4]
        (local.set $v (i8x16.shuffle 0 16 1 17 2 18 3 19 4 20 5 21 6 22 7 23
          (v128.and (local.get $v) (v128.const i8x16 15 15 15 15 15 15 15 15 15 15 15 15 15 15 15 15))
          (i8x16.shr_u (local.get $v) (i32.const 4))))))
    (f32x4.add
      (f32x4.mul
        (f32x4.convert_i32x4_s (i32x4.extend_low_i16x8_u (i16x8.extend_low_i8x16_u (local.get $v))))
        (local.get $vs))
      (local.get $vb)))

  ;; deq1(row, e, bits, s, b): x̂ of element e of the row at byte `row`
  (func $deq1 (param $row i32) (param $e i32) (param $bits i32) (param $s f32) (param $b f32) (result f32)
    (local $q i32)
    (if (i32.eq (local.get $bits) (i32.const 8))
      (then (local.set $q (i32.load8_u (i32.add (local.get $row) (local.get $e)))))
      (else (local.set $q (i32.and (i32.shr_u
        (i32.load8_u (i32.add (local.get $row) (i32.shr_u (local.get $e) (i32.const 1))))
        (i32.shl (i32.and (local.get $e) (i32.const 1)) (i32.const 2)))
        (i32.const 15)))))
    (f32.add (f32.mul (f32.convert_i32_u (local.get $q)) (local.get $s)) (local.get $b)))

  ;; store4(p, acc, scale, mean): out[p .. p+4] = acc, or f32(acc · scale) in f64 for mean
  (func $store4 (param $p i32) (param $acc v128) (param $scale f64) (param $mean i32)
    (if (i32.eqz (local.get $mean))
      (then (v128.store (local.get $p) (local.get $acc)) (return)))
    (v128.store64_lane 0 (local.get $p) (f32x4.demote_f64x2_zero
      (f64x2.mul (f64x2.promote_low_f32x4 (local.get $acc)) (f64x2.splat (local.get $scale)))))
    (v128.store64_lane offset=8 0 (local.get $p) (f32x4.demote_f64x2_zero
      (f64x2.mul (f64x2.promote_low_f32x4
                   (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $acc) (local.get $acc)))
                 (f64x2.splat (local.get $scale))))))

  ;; store2(p, acc, scale): out[p .. p+2] = f32(acc · scale), acc two f64 lanes
  (func $store2 (param $p i32) (param $acc v128) (param $scale f64)
    (v128.store64_lane 0 (local.get $p)
      (f32x4.demote_f64x2_zero (f64x2.mul (local.get $acc) (f64x2.splat (local.get $scale))))))

  ;; wacc2(acc, x, w): f32(acc + w · x) in f64 for two f32 values x (the low half of an f32x4)
  (func $wacc2 (param $acc v128) (param $x v128) (param $vw v128) (result v128)
    (f64x2.promote_low_f32x4 (f32x4.demote_f64x2_zero
      (f64x2.add (local.get $acc) (f64x2.mul (local.get $vw) (f64x2.promote_low_f32x4 (local.get $x)))))))

  (func (export "embedding_bag_fwd_quantized_f32")
    (param $B i32) (param $E i32) (param $mode i32) (param $bits i32) (param $table i32) (param $R i32)
    (param $indices i32) (param $offsets i32) (param $L i32) (param $weights i32) (param $out i32)
    (result i32)
    (local $b i32) (local $start i32) (local $end i32) (local $l i32) (local $idx i32)
    (local $e i32)          ;; first float of the current block of the row
    (local $row i32)        ;; address of the fused row of indices[l]
    (local $p i32)          ;; an address in out
    (local $o i32)          ;; address of out[b][0]
    (local $rowb i32)       ;; bytes of one fused row
    (local $qb i32)         ;; bytes of a row's values: where its scale starts
    (local $mean i32)       ;; 1 when this bag is scaled (mean over a non-empty bag)
    (local $scale f64) (local $w f64) (local $acc f64)
    (local $s f32) (local $bias f32) (local $x v128) (local $lo v128) (local $hi v128)
    (local $vs v128) (local $vb v128) (local $vw v128)
    (local $acc0 v128) (local $acc1 v128) (local $acc2 v128) (local $acc3 v128)
    (if (i32.eq (local.get $bits) (i32.const 8))
      (then (local.set $qb (local.get $E)) (local.set $rowb (i32.add (local.get $E) (i32.const 8))))
      (else
        (local.set $qb (i32.shr_u (i32.add (local.get $E) (i32.const 1)) (i32.const 1)))
        (local.set $rowb (i32.add (local.get $qb) (i32.const 4)))))
    (local.set $start (i32.load (local.get $offsets)))
    (if (i32.gt_u (local.get $start) (local.get $L)) (then (return (i32.const -1))))
    (local.set $o (local.get $out))
    (block $bags_done
      (loop $bags
        (br_if $bags_done (i32.ge_u (local.get $b) (local.get $B)))
        ;; the bag's lookups [start, end), checked against the previous end and L
        (local.set $end (i32.load (i32.add (local.get $offsets)
          (i32.shl (i32.add (local.get $b) (i32.const 1)) (i32.const 2)))))
        (if (i32.or (i32.lt_u (local.get $end) (local.get $start)) (i32.gt_u (local.get $end) (local.get $L)))
          (then (return (i32.sub (i32.const -1) (local.get $b)))))
        ;; every index of the bag must address a row
        (local.set $l (local.get $start))
        (block $check_done
          (loop $check
            (br_if $check_done (i32.ge_u (local.get $l) (local.get $end)))
            (if (i32.ge_u (i32.load (i32.add (local.get $indices) (i32.shl (local.get $l) (i32.const 2)))) (local.get $R))
              (then (return (i32.add (local.get $l) (i32.const 1)))))
            (local.set $l (i32.add (local.get $l) (i32.const 1)))
            (br $check)))
        ;; scale = 1/len for mean over a non-empty bag (f64, as the reference), else 1
        (local.set $mean (i32.and (i32.eq (local.get $mode) (i32.const 1)) (i32.gt_u (local.get $end) (local.get $start))))
        (local.set $scale (if (result f64) (local.get $mean)
          (then (f64.div (f64.const 1) (f64.convert_i32_u (i32.sub (local.get $end) (local.get $start)))))
          (else (f64.const 1))))
        (local.set $e (i32.const 0))
        (if (i32.eqz (local.get $weights))
          (then
            ;; Unweighted: 16 floats at a time, 4 f32x4 sums over all lookups of the bag
            (block $e16_done
              (loop $e16
                (br_if $e16_done (i32.gt_u (i32.add (local.get $e) (i32.const 16)) (local.get $E)))
                (local.set $acc0 (v128.const i32x4 0 0 0 0))
                (local.set $acc1 (v128.const i32x4 0 0 0 0))
                (local.set $acc2 (v128.const i32x4 0 0 0 0))
                (local.set $acc3 (v128.const i32x4 0 0 0 0))
                (local.set $l (local.get $start))
                (block $l_done
                  (loop $lookups
                    (br_if $l_done (i32.ge_u (local.get $l) (local.get $end)))
                    ;; the hot loop, written out (no calls): row address, scale and bias,
                    ;; the block's 16 values as 16 bytes q (int4: 8 bytes' nibbles interleaved)
                    (local.set $row (i32.add (local.get $table) (i32.mul (local.get $rowb)
                      (i32.load (i32.add (local.get $indices) (i32.shl (local.get $l) (i32.const 2)))))))
                    (if (i32.eq (local.get $bits) (i32.const 8))
                      (then
                        (local.set $vs (f32x4.splat (f32.load (i32.add (local.get $row) (local.get $qb)))))
                        (local.set $vb (f32x4.splat (f32.load offset=4 (i32.add (local.get $row) (local.get $qb)))))
                        (local.set $x (v128.load (i32.add (local.get $row) (local.get $e)))))
                      (else
                        ;; the two f16 words as f32 ($half's arithmetic, on both lanes at once)
                        (local.set $vs (call $half2 (v128.load32_zero (i32.add (local.get $row) (local.get $qb)))))
                        (local.set $vb (i8x16.shuffle 4 5 6 7 4 5 6 7 4 5 6 7 4 5 6 7 (local.get $vs) (local.get $vs)))
                        (local.set $vs (i8x16.shuffle 0 1 2 3 0 1 2 3 0 1 2 3 0 1 2 3 (local.get $vs) (local.get $vs)))
                        (local.set $x (v128.load64_zero (i32.add (local.get $row) (i32.shr_u (local.get $e) (i32.const 1)))))
                        (local.set $x (i8x16.shuffle 0 16 1 17 2 18 3 19 4 20 5 21 6 22 7 23
                          (v128.and (local.get $x) (v128.const i8x16 15 15 15 15 15 15 15 15 15 15 15 15 15 15 15 15))
                          (i8x16.shr_u (local.get $x) (i32.const 4))))))
                    ;; q bytes → 4 × f32x4, x̂ = q·s + β (a multiply, then an add), summed in f32
                    (local.set $lo (i16x8.extend_low_i8x16_u (local.get $x)))
                    (local.set $hi (i16x8.extend_high_i8x16_u (local.get $x)))
                    (local.set $acc0 (f32x4.add (local.get $acc0) (f32x4.add (f32x4.mul
                      (f32x4.convert_i32x4_s (i32x4.extend_low_i16x8_u (local.get $lo))) (local.get $vs)) (local.get $vb))))
                    (local.set $acc1 (f32x4.add (local.get $acc1) (f32x4.add (f32x4.mul
                      (f32x4.convert_i32x4_s (i32x4.extend_high_i16x8_u (local.get $lo))) (local.get $vs)) (local.get $vb))))
                    (local.set $acc2 (f32x4.add (local.get $acc2) (f32x4.add (f32x4.mul
                      (f32x4.convert_i32x4_s (i32x4.extend_low_i16x8_u (local.get $hi))) (local.get $vs)) (local.get $vb))))
                    (local.set $acc3 (f32x4.add (local.get $acc3) (f32x4.add (f32x4.mul
                      (f32x4.convert_i32x4_s (i32x4.extend_high_i16x8_u (local.get $hi))) (local.get $vs)) (local.get $vb))))
                    (local.set $l (i32.add (local.get $l) (i32.const 1)))
                    (br $lookups)))
                (local.set $p (i32.add (local.get $o) (i32.shl (local.get $e) (i32.const 2))))
                (if (local.get $mean)
                  (then
                    (call $store4 (local.get $p) (local.get $acc0) (local.get $scale) (i32.const 1))
                    (call $store4 (i32.add (local.get $p) (i32.const 16)) (local.get $acc1) (local.get $scale) (i32.const 1))
                    (call $store4 (i32.add (local.get $p) (i32.const 32)) (local.get $acc2) (local.get $scale) (i32.const 1))
                    (call $store4 (i32.add (local.get $p) (i32.const 48)) (local.get $acc3) (local.get $scale) (i32.const 1)))
                  (else ;; sum: the sums as they are, stored without a call
                    (v128.store (local.get $p) (local.get $acc0))
                    (v128.store offset=16 (local.get $p) (local.get $acc1))
                    (v128.store offset=32 (local.get $p) (local.get $acc2))
                    (v128.store offset=48 (local.get $p) (local.get $acc3))))
                (local.set $e (i32.add (local.get $e) (i32.const 16)))
                (br $e16)))
            ;; 4 floats at a time for what is left of E mod 16
            (block $e4_done
              (loop $e4
                (br_if $e4_done (i32.gt_u (i32.add (local.get $e) (i32.const 4)) (local.get $E)))
                (local.set $acc0 (v128.const i32x4 0 0 0 0))
                (local.set $l (local.get $start))
                (block $l_done
                  (loop $lookups
                    (br_if $l_done (i32.ge_u (local.get $l) (local.get $end)))
                    (call $rowOf (local.get $table) (local.get $indices) (local.get $l) (local.get $rowb))
                    (local.set $row)
                    (call $scaleBias (local.get $row) (local.get $qb) (local.get $bits))
                    (local.set $bias) (local.set $s)
                    (local.set $acc0 (f32x4.add (local.get $acc0) (call $deq4 (local.get $row) (local.get $e) (local.get $bits)
                      (f32x4.splat (local.get $s)) (f32x4.splat (local.get $bias)))))
                    (local.set $l (i32.add (local.get $l) (i32.const 1)))
                    (br $lookups)))
                (call $store4 (i32.add (local.get $o) (i32.shl (local.get $e) (i32.const 2))) (local.get $acc0) (local.get $scale) (local.get $mean))
                (local.set $e (i32.add (local.get $e) (i32.const 4)))
                (br $e4))))
          (else
            ;; Weighted: 4 floats at a time, 2 f64x2 sums, each lane rounded to f32 per term
            (block $w4_done
              (loop $w4
                (br_if $w4_done (i32.gt_u (i32.add (local.get $e) (i32.const 4)) (local.get $E)))
                (local.set $acc0 (v128.const i32x4 0 0 0 0))
                (local.set $acc1 (v128.const i32x4 0 0 0 0))
                (local.set $l (local.get $start))
                (block $l_done
                  (loop $lookups
                    (br_if $l_done (i32.ge_u (local.get $l) (local.get $end)))
                    (local.set $vw (f64x2.splat (f64.promote_f32
                      (f32.load (i32.add (local.get $weights) (i32.shl (local.get $l) (i32.const 2)))))))
                    (call $rowOf (local.get $table) (local.get $indices) (local.get $l) (local.get $rowb))
                    (local.set $row)
                    (call $scaleBias (local.get $row) (local.get $qb) (local.get $bits))
                    (local.set $bias) (local.set $s)
                    (local.set $x (call $deq4 (local.get $row) (local.get $e) (local.get $bits)
                      (f32x4.splat (local.get $s)) (f32x4.splat (local.get $bias))))
                    (local.set $acc0 (call $wacc2 (local.get $acc0) (local.get $x) (local.get $vw)))
                    (local.set $acc1 (call $wacc2 (local.get $acc1)
                      (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $x) (local.get $x)) (local.get $vw)))
                    (local.set $l (i32.add (local.get $l) (i32.const 1)))
                    (br $lookups)))
                (local.set $p (i32.add (local.get $o) (i32.shl (local.get $e) (i32.const 2))))
                (call $store2 (local.get $p) (local.get $acc0) (local.get $scale))
                (call $store2 (i32.add (local.get $p) (i32.const 8)) (local.get $acc1) (local.get $scale))
                (local.set $e (i32.add (local.get $e) (i32.const 4)))
                (br $w4)))))
        ;; single floats for the last E mod 4, in f64
        (block $e1_done
          (loop $e1
            (br_if $e1_done (i32.ge_u (local.get $e) (local.get $E)))
            (local.set $acc (f64.const 0))
            (local.set $l (local.get $start))
            (block $l_done
              (loop $lookups
                (br_if $l_done (i32.ge_u (local.get $l) (local.get $end)))
                (local.set $w (if (result f64) (local.get $weights)
                  (then (f64.promote_f32 (f32.load (i32.add (local.get $weights) (i32.shl (local.get $l) (i32.const 2))))))
                  (else (f64.const 1))))
                (call $rowOf (local.get $table) (local.get $indices) (local.get $l) (local.get $rowb))
                (local.set $row)
                (call $scaleBias (local.get $row) (local.get $qb) (local.get $bits))
                (local.set $bias) (local.set $s)
                ;; acc = f32(acc + w · x̂)
                (local.set $acc (f64.promote_f32 (f32.demote_f64 (f64.add (local.get $acc) (f64.mul (local.get $w)
                  (f64.promote_f32 (call $deq1 (local.get $row) (local.get $e) (local.get $bits) (local.get $s) (local.get $bias))))))))
                (local.set $l (i32.add (local.get $l) (i32.const 1)))
                (br $lookups)))
            (f32.store (i32.add (local.get $o) (i32.shl (local.get $e) (i32.const 2)))
              (f32.demote_f64 (f64.mul (local.get $acc) (local.get $scale))))
            (local.set $e (i32.add (local.get $e) (i32.const 1)))
            (br $e1)))
        (local.set $start (local.get $end))
        (local.set $o (i32.add (local.get $o) (i32.shl (local.get $E) (i32.const 2))))
        (local.set $b (i32.add (local.get $b) (i32.const 1)))
        (br $bags)))
    (i32.const 0))

  ;; rowOf(table, indices, l, rowb): the address of the fused row of indices[l]
  (func $rowOf (param $table i32) (param $indices i32) (param $l i32) (param $rowb i32) (result i32)
    (i32.add (local.get $table)
      (i32.mul (i32.load (i32.add (local.get $indices) (i32.shl (local.get $l) (i32.const 2)))) (local.get $rowb))))

  ;; scaleBias(row, qb, bits): the row's scale and bias as f32 (f32 fields for int8, f16 for int4)
  (func $scaleBias (param $row i32) (param $qb i32) (param $bits i32) (result f32 f32)
    (local $at i32)
    (local.set $at (i32.add (local.get $row) (local.get $qb)))
    (if (result f32 f32) (i32.eq (local.get $bits) (i32.const 8))
      (then (f32.load (local.get $at)) (f32.load offset=4 (local.get $at)))
      (else (call $half (i32.load16_u (local.get $at))) (call $half (i32.load16_u offset=2 (local.get $at))))))
)
