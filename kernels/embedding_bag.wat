;; embedding_bag.wat — pooled embedding lookups (forward) and their row-sparse gradient
;; (backward) with SIMD128.
;;
;; Glossary: B bags (batch), E embedding dim (row length), R rows in the table, L lookups
;; (indices), U unique rows of the gradient; bag b holds lookups offsets[b] .. offsets[b+1]-1.
;;
;; The math (forward): out[b] = scale(b) · Σ_{l in bag b} w[l] · table[indices[l]], where
;; w[l] = weights[l] (or 1 without weights) and scale(b) = 1 for sum, 1/len(b) for mean;
;; an empty bag gives zeros.
;; (backward): gradRows[slots[l]] += scale(b) · w[l] · dout[b] for every lookup l of bag b;
;; slots maps each lookup to its unique row, so repeated ids are summed.
;;
;; The naive loops are in src/kernels/ref.ts (embedding_bag_fwd, embedding_bag_bwd).
;;
;; Arithmetic: the results equal the reference's bit for bit. The reference adds into a
;; float32 array, so each lookup's term is added and rounded to float32, in lookup order;
;; it forms w·t, scale·w and the mean's 1/len in f64 (JS numbers). So: an unweighted term
;; is added in f32 (a single f32 add rounds exactly as JS's f64 add then f32 store does);
;; a weighted term, the mean's scaling and the backward's scaled add are done in f64 and
;; rounded to f32 where the reference stores.
;;
;; The blocking (forward): a bag of one unweighted lookup (DLRM's usual case) is a row copy
;; (as 0 + t); any other bag takes one pass over its lookups per block of the row, the block's
;; running sums held in registers and stored once: 16 floats (4 f32x4) unweighted, 8 floats
;; (4 f64x2, each lane an f32 value held in f64) weighted; then smaller blocks, then single
;; floats. The lookups of different bags are independent, so the core overlaps their cache
;; misses. (backward): per lookup, the bag's dout row is added into the gradient row, 16
;; floats at a time in f32 when the factor is 1 (unweighted sum), else 2 at a time in f64.
;;
;; Calling convention (addresses are byte addresses in the shared memory; sizes are element
;; counts; indices, offsets and slots are int32; a weights address of 0 means no weights):
;;   embedding_bag_fwd_f32(B, E, mode, table, R, indices, offsets, L, weights, out) → status
;;   embedding_bag_bwd_f32(B, E, mode, dout, offsets, L, slots, U, weights, grad) → status
;;     mode    0 sum, 1 mean
;;     offsets B+1 int32: 0 ≤ offsets[0] ≤ offsets[1] ≤ … ≤ offsets[B] ≤ L
;;   status: 0 done; l+1 when indices[l] (or slots[l]) is outside [0, R) (or [0, U)); -(b+1)
;;   when offsets[b+1] < offsets[b] or offsets[b+1] > L (-1 also for offsets[0] > L). The
;;   caller turns a non-zero status into an error; the outputs are then undefined.

(module
  (import "env" "memory" (memory 1 65536 shared))

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

  ;; acc2(acc, row, w): f32(acc + w · row[0 .. 2]) in f64, kept as f64 lanes
  (func $acc2 (param $acc v128) (param $row i32) (param $vw v128) (result v128)
    (f64x2.promote_low_f32x4 (f32x4.demote_f64x2_zero
      (f64x2.add (local.get $acc)
                 (f64x2.mul (local.get $vw) (f64x2.promote_low_f32x4 (v128.load64_zero (local.get $row))))))))

  (func (export "embedding_bag_fwd_f32")
    (param $B i32) (param $E i32) (param $mode i32) (param $table i32) (param $R i32)
    (param $indices i32) (param $offsets i32) (param $L i32) (param $weights i32) (param $out i32)
    (result i32)
    (local $b i32) (local $start i32) (local $end i32) (local $l i32) (local $idx i32)
    (local $e i32)          ;; first float of the current block of the row
    (local $row i32)        ;; address of table[idx][e]
    (local $o i32)          ;; address of out[b][0]
    (local $rowb i32)       ;; bytes of one row: 4·E
    (local $mean i32)       ;; 1 when this bag is scaled (mean over a non-empty bag)
    (local $scale f64) (local $w f64) (local $s f64)
    (local $vw v128)
    (local $acc0 v128) (local $acc1 v128) (local $acc2 v128) (local $acc3 v128)
    (local.set $rowb (i32.shl (local.get $E) (i32.const 2)))
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
        ;; A single unweighted lookup (DLRM's usual bag): out[b] = 0 + table[idx], the row
        ;; itself (a mean over one lookup scales by 1), with no sums to set up.
        (if (i32.and (i32.eqz (local.get $weights)) (i32.eq (i32.sub (local.get $end) (local.get $start)) (i32.const 1)))
          (then
            (local.set $idx (i32.load (i32.add (local.get $indices) (i32.shl (local.get $start) (i32.const 2)))))
            (if (i32.ge_u (local.get $idx) (local.get $R)) (then (return (i32.add (local.get $start) (i32.const 1)))))
            (local.set $row (i32.add (local.get $table) (i32.mul (local.get $idx) (local.get $rowb))))
            (local.set $l (local.get $o))   ;; destination pointer
            (local.set $e (i32.const 0))
            (block $c16_done
              (loop $c16
                (br_if $c16_done (i32.gt_u (i32.add (local.get $e) (i32.const 16)) (local.get $E)))
                ;; 0 + t, not a plain copy: the reference's sum turns -0 into +0
                (v128.store offset=0 (local.get $l) (f32x4.add (v128.const i32x4 0 0 0 0) (v128.load offset=0 (local.get $row))))
                (v128.store offset=16 (local.get $l) (f32x4.add (v128.const i32x4 0 0 0 0) (v128.load offset=16 (local.get $row))))
                (v128.store offset=32 (local.get $l) (f32x4.add (v128.const i32x4 0 0 0 0) (v128.load offset=32 (local.get $row))))
                (v128.store offset=48 (local.get $l) (f32x4.add (v128.const i32x4 0 0 0 0) (v128.load offset=48 (local.get $row))))
                (local.set $row (i32.add (local.get $row) (i32.const 64)))
                (local.set $l (i32.add (local.get $l) (i32.const 64)))
                (local.set $e (i32.add (local.get $e) (i32.const 16)))
                (br $c16)))
            (block $c1_done
              (loop $c1
                (br_if $c1_done (i32.ge_u (local.get $e) (local.get $E)))
                (f32.store (local.get $l) (f32.add (f32.const 0) (f32.load (local.get $row))))
                (local.set $row (i32.add (local.get $row) (i32.const 4)))
                (local.set $l (i32.add (local.get $l) (i32.const 4)))
                (local.set $e (i32.add (local.get $e) (i32.const 1)))
                (br $c1)))
            (local.set $start (local.get $end))
            (local.set $o (i32.add (local.get $o) (local.get $rowb)))
            (local.set $b (i32.add (local.get $b) (i32.const 1)))
            (br $bags)))
        ;; every index of the bag must address a row
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
                    ;; row = table + (indices[l]·E + e)·4
                    (local.set $row (i32.add (i32.add (local.get $table)
                      (i32.mul (i32.load (i32.add (local.get $indices) (i32.shl (local.get $l) (i32.const 2)))) (local.get $rowb)))
                      (i32.shl (local.get $e) (i32.const 2))))
                    (local.set $acc0 (f32x4.add (local.get $acc0) (v128.load (local.get $row))))
                    (local.set $acc1 (f32x4.add (local.get $acc1) (v128.load offset=16 (local.get $row))))
                    (local.set $acc2 (f32x4.add (local.get $acc2) (v128.load offset=32 (local.get $row))))
                    (local.set $acc3 (f32x4.add (local.get $acc3) (v128.load offset=48 (local.get $row))))
                    (local.set $l (i32.add (local.get $l) (i32.const 1)))
                    (br $lookups)))
                (local.set $row (i32.add (local.get $o) (i32.shl (local.get $e) (i32.const 2))))
                (if (local.get $mean)
                  (then
                    (call $store4 (local.get $row) (local.get $acc0) (local.get $scale) (i32.const 1))
                    (call $store4 (i32.add (local.get $row) (i32.const 16)) (local.get $acc1) (local.get $scale) (i32.const 1))
                    (call $store4 (i32.add (local.get $row) (i32.const 32)) (local.get $acc2) (local.get $scale) (i32.const 1))
                    (call $store4 (i32.add (local.get $row) (i32.const 48)) (local.get $acc3) (local.get $scale) (i32.const 1)))
                  (else
                    (v128.store (local.get $row) (local.get $acc0))
                    (v128.store offset=16 (local.get $row) (local.get $acc1))
                    (v128.store offset=32 (local.get $row) (local.get $acc2))
                    (v128.store offset=48 (local.get $row) (local.get $acc3))))
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
                    (local.set $row (i32.add (i32.add (local.get $table)
                      (i32.mul (i32.load (i32.add (local.get $indices) (i32.shl (local.get $l) (i32.const 2)))) (local.get $rowb)))
                      (i32.shl (local.get $e) (i32.const 2))))
                    (local.set $acc0 (f32x4.add (local.get $acc0) (v128.load (local.get $row))))
                    (local.set $l (i32.add (local.get $l) (i32.const 1)))
                    (br $lookups)))
                (call $store4 (i32.add (local.get $o) (i32.shl (local.get $e) (i32.const 2)))
                  (local.get $acc0) (local.get $scale) (local.get $mean))
                (local.set $e (i32.add (local.get $e) (i32.const 4)))
                (br $e4))))
          (else
            ;; Weighted: 8 floats at a time, 4 f64x2 sums, each term w·t added in f64 and
            ;; rounded to f32 like the reference's store
            (block $w8_done
              (loop $w8
                (br_if $w8_done (i32.gt_u (i32.add (local.get $e) (i32.const 8)) (local.get $E)))
                (local.set $acc0 (v128.const i32x4 0 0 0 0))
                (local.set $acc1 (v128.const i32x4 0 0 0 0))
                (local.set $acc2 (v128.const i32x4 0 0 0 0))
                (local.set $acc3 (v128.const i32x4 0 0 0 0))
                (local.set $l (local.get $start))
                (block $l_done
                  (loop $lookups
                    (br_if $l_done (i32.ge_u (local.get $l) (local.get $end)))
                    (local.set $vw (f64x2.splat (f64.promote_f32
                      (f32.load (i32.add (local.get $weights) (i32.shl (local.get $l) (i32.const 2)))))))
                    (local.set $row (i32.add (i32.add (local.get $table)
                      (i32.mul (i32.load (i32.add (local.get $indices) (i32.shl (local.get $l) (i32.const 2)))) (local.get $rowb)))
                      (i32.shl (local.get $e) (i32.const 2))))
                    (local.set $acc0 (call $acc2 (local.get $acc0) (local.get $row) (local.get $vw)))
                    (local.set $acc1 (call $acc2 (local.get $acc1) (i32.add (local.get $row) (i32.const 8)) (local.get $vw)))
                    (local.set $acc2 (call $acc2 (local.get $acc2) (i32.add (local.get $row) (i32.const 16)) (local.get $vw)))
                    (local.set $acc3 (call $acc2 (local.get $acc3) (i32.add (local.get $row) (i32.const 24)) (local.get $vw)))
                    (local.set $l (i32.add (local.get $l) (i32.const 1)))
                    (br $lookups)))
                (local.set $row (i32.add (local.get $o) (i32.shl (local.get $e) (i32.const 2))))
                (call $store2 (local.get $row) (local.get $acc0) (local.get $scale))
                (call $store2 (i32.add (local.get $row) (i32.const 8)) (local.get $acc1) (local.get $scale))
                (call $store2 (i32.add (local.get $row) (i32.const 16)) (local.get $acc2) (local.get $scale))
                (call $store2 (i32.add (local.get $row) (i32.const 24)) (local.get $acc3) (local.get $scale))
                (local.set $e (i32.add (local.get $e) (i32.const 8)))
                (br $w8)))
            ;; 2 floats at a time for what is left of E mod 8
            (block $w2_done
              (loop $w2
                (br_if $w2_done (i32.gt_u (i32.add (local.get $e) (i32.const 2)) (local.get $E)))
                (local.set $acc0 (v128.const i32x4 0 0 0 0))
                (local.set $l (local.get $start))
                (block $l_done
                  (loop $lookups
                    (br_if $l_done (i32.ge_u (local.get $l) (local.get $end)))
                    (local.set $vw (f64x2.splat (f64.promote_f32
                      (f32.load (i32.add (local.get $weights) (i32.shl (local.get $l) (i32.const 2)))))))
                    (local.set $row (i32.add (i32.add (local.get $table)
                      (i32.mul (i32.load (i32.add (local.get $indices) (i32.shl (local.get $l) (i32.const 2)))) (local.get $rowb)))
                      (i32.shl (local.get $e) (i32.const 2))))
                    (local.set $acc0 (call $acc2 (local.get $acc0) (local.get $row) (local.get $vw)))
                    (local.set $l (i32.add (local.get $l) (i32.const 1)))
                    (br $lookups)))
                (call $store2 (i32.add (local.get $o) (i32.shl (local.get $e) (i32.const 2))) (local.get $acc0) (local.get $scale))
                (local.set $e (i32.add (local.get $e) (i32.const 2)))
                (br $w2)))))
        ;; single floats for the last E mod 4 (unweighted) or E mod 2 (weighted), in f64
        (block $e1_done
          (loop $e1
            (br_if $e1_done (i32.ge_u (local.get $e) (local.get $E)))
            (local.set $s (f64.const 0))
            (local.set $l (local.get $start))
            (block $l_done
              (loop $lookups
                (br_if $l_done (i32.ge_u (local.get $l) (local.get $end)))
                (local.set $w (if (result f64) (local.get $weights)
                  (then (f64.promote_f32 (f32.load (i32.add (local.get $weights) (i32.shl (local.get $l) (i32.const 2))))))
                  (else (f64.const 1))))
                ;; s = f32(s + w · t)
                (local.set $s (f64.promote_f32 (f32.demote_f64 (f64.add (local.get $s) (f64.mul (local.get $w)
                  (f64.promote_f32 (f32.load (i32.add (i32.add (local.get $table)
                    (i32.mul (i32.load (i32.add (local.get $indices) (i32.shl (local.get $l) (i32.const 2)))) (local.get $rowb)))
                    (i32.shl (local.get $e) (i32.const 2))))))))))
                (local.set $l (i32.add (local.get $l) (i32.const 1)))
                (br $lookups)))
            (f32.store (i32.add (local.get $o) (i32.shl (local.get $e) (i32.const 2)))
              (f32.demote_f64 (f64.mul (local.get $s) (local.get $scale))))
            (local.set $e (i32.add (local.get $e) (i32.const 1)))
            (br $e1)))
        (local.set $start (local.get $end))
        (local.set $o (i32.add (local.get $o) (local.get $rowb)))
        (local.set $b (i32.add (local.get $b) (i32.const 1)))
        (br $bags)))
    (i32.const 0))

  (func (export "embedding_bag_bwd_f32")
    (param $B i32) (param $E i32) (param $mode i32) (param $dout i32) (param $offsets i32)
    (param $L i32) (param $slots i32) (param $U i32) (param $weights i32) (param $grad i32)
    (result i32)
    (local $b i32) (local $start i32) (local $end i32) (local $l i32) (local $slot i32)
    (local $e i32) (local $d i32) (local $g i32) (local $rowb i32)
    (local $gp i32) (local $dp i32)   ;; addresses of grad[slot][e], dout[b][e]
    (local $scale f64) (local $w f64) (local $vw v128)
    (local.set $rowb (i32.shl (local.get $E) (i32.const 2)))
    (local.set $start (i32.load (local.get $offsets)))
    (if (i32.gt_u (local.get $start) (local.get $L)) (then (return (i32.const -1))))
    (local.set $d (local.get $dout))
    (block $bags_done
      (loop $bags
        (br_if $bags_done (i32.ge_u (local.get $b) (local.get $B)))
        (local.set $end (i32.load (i32.add (local.get $offsets)
          (i32.shl (i32.add (local.get $b) (i32.const 1)) (i32.const 2)))))
        (if (i32.or (i32.lt_u (local.get $end) (local.get $start)) (i32.gt_u (local.get $end) (local.get $L)))
          (then (return (i32.sub (i32.const -1) (local.get $b)))))
        (local.set $scale (f64.const 1))
        (if (i32.and (i32.eq (local.get $mode) (i32.const 1)) (i32.gt_u (local.get $end) (local.get $start)))
          (then (local.set $scale (f64.div (f64.const 1)
            (f64.convert_i32_u (i32.sub (local.get $end) (local.get $start)))))))
        (local.set $l (local.get $start))
        (block $l_done
          (loop $lookups
            (br_if $l_done (i32.ge_u (local.get $l) (local.get $end)))
            (local.set $slot (i32.load (i32.add (local.get $slots) (i32.shl (local.get $l) (i32.const 2)))))
            (if (i32.ge_u (local.get $slot) (local.get $U)) (then (return (i32.add (local.get $l) (i32.const 1)))))
            ;; w = scale(b) · weights[l] (or scale(b)), in f64 as the reference
            (local.set $w (f64.mul (local.get $scale) (if (result f64) (local.get $weights)
              (then (f64.promote_f32 (f32.load (i32.add (local.get $weights) (i32.shl (local.get $l) (i32.const 2))))))
              (else (f64.const 1)))))
            (local.set $g (i32.add (local.get $grad) (i32.mul (local.get $slot) (local.get $rowb))))
            (local.set $e (i32.const 0))
            (if (f64.eq (local.get $w) (f64.const 1))
              (then
                ;; w = 1: grad += dout in f32, 16 then 4 floats at a time
                (block $e16_done
                  (loop $e16
                    (br_if $e16_done (i32.gt_u (i32.add (local.get $e) (i32.const 16)) (local.get $E)))
                    (local.set $gp (i32.add (local.get $g) (i32.shl (local.get $e) (i32.const 2))))
                    (local.set $dp (i32.add (local.get $d) (i32.shl (local.get $e) (i32.const 2))))
                    (v128.store offset=0 (local.get $gp) (f32x4.add (v128.load offset=0 (local.get $gp)) (v128.load offset=0 (local.get $dp))))
                    (v128.store offset=16 (local.get $gp) (f32x4.add (v128.load offset=16 (local.get $gp)) (v128.load offset=16 (local.get $dp))))
                    (v128.store offset=32 (local.get $gp) (f32x4.add (v128.load offset=32 (local.get $gp)) (v128.load offset=32 (local.get $dp))))
                    (v128.store offset=48 (local.get $gp) (f32x4.add (v128.load offset=48 (local.get $gp)) (v128.load offset=48 (local.get $dp))))
                    (local.set $e (i32.add (local.get $e) (i32.const 16)))
                    (br $e16)))
                (block $e4_done
                  (loop $e4
                    (br_if $e4_done (i32.gt_u (i32.add (local.get $e) (i32.const 4)) (local.get $E)))
                    (local.set $gp (i32.add (local.get $g) (i32.shl (local.get $e) (i32.const 2))))
                    (local.set $dp (i32.add (local.get $d) (i32.shl (local.get $e) (i32.const 2))))
                    (v128.store (local.get $gp) (f32x4.add (v128.load (local.get $gp)) (v128.load (local.get $dp))))
                    (local.set $e (i32.add (local.get $e) (i32.const 4)))
                    (br $e4))))
              (else
                ;; grad = f32(grad + w · dout) in f64, 2 floats at a time
                (local.set $vw (f64x2.splat (local.get $w)))
                (block $e2_done
                  (loop $e2
                    (br_if $e2_done (i32.gt_u (i32.add (local.get $e) (i32.const 2)) (local.get $E)))
                    (local.set $gp (i32.add (local.get $g) (i32.shl (local.get $e) (i32.const 2))))
                    (local.set $dp (i32.add (local.get $d) (i32.shl (local.get $e) (i32.const 2))))
                    (v128.store64_lane 0 (local.get $gp) (f32x4.demote_f64x2_zero
                      (f64x2.add (f64x2.promote_low_f32x4 (v128.load64_zero (local.get $gp)))
                                 (f64x2.mul (local.get $vw) (f64x2.promote_low_f32x4 (v128.load64_zero (local.get $dp)))))))
                    (local.set $e (i32.add (local.get $e) (i32.const 2)))
                    (br $e2)))))
            ;; single floats for the rest, in f64
            (block $e1_done
              (loop $e1
                (br_if $e1_done (i32.ge_u (local.get $e) (local.get $E)))
                (local.set $gp (i32.add (local.get $g) (i32.shl (local.get $e) (i32.const 2))))
                (f32.store (local.get $gp) (f32.demote_f64
                  (f64.add (f64.promote_f32 (f32.load (local.get $gp)))
                           (f64.mul (local.get $w) (f64.promote_f32
                             (f32.load (i32.add (local.get $d) (i32.shl (local.get $e) (i32.const 2)))))))))
                (local.set $e (i32.add (local.get $e) (i32.const 1)))
                (br $e1)))
            (local.set $l (i32.add (local.get $l) (i32.const 1)))
            (br $lookups)))
        (local.set $start (local.get $end))
        (local.set $d (i32.add (local.get $d) (local.get $rowb)))
        (local.set $b (i32.add (local.get $b) (i32.const 1)))
        (br $bags)))
    (i32.const 0))
)
