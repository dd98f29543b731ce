;; sparse_rows.wat — optimizer updates of the touched rows of an embedding table, with SIMD128.
;;
;; Glossary: U touched (unique) rows, E row length, R rows in the table; grad is (U, E), row u
;; belonging to table row ids[u].
;;
;; The math, for every u < U with r = ids[u] and g = grad[u]:
;;   sgd_rows_f32:             table[r] -= lr · g
;;   adagrad_rows_f32:         acc[r] += g²;  table[r] -= lr · g / (sqrt(acc[r]) + eps)
;;                             (acc is (R, E), one accumulator per element)
;;   rowwise_adagrad_rows_f32: acc[r] += mean(g²);  table[r] -= lr · g / (sqrt(acc[r]) + eps)
;;                             (acc is (R,), one accumulator per row)
;; The naive loops are in src/kernels/ref.ts (sgd_rows, adagrad_rows, rowwise_adagrad_rows).
;;
;; Arithmetic: float32 values are widened to f64, every operation is done in f64 in the order
;; the reference writes it (lr and eps arrive as f64, as JS numbers), and only the stored
;; results are rounded to float32. JS does exactly that, so these kernels give the reference's
;; results bit for bit; they are bound by memory traffic, so the f64 math costs nothing that
;; shows. (The row-wise sum of squares runs in order, one term at a time, for the same reason.)
;;
;; The blocking: each row is updated 2 floats at a time (v128.load64_zero brings 2 float32 in,
;; f64x2.promote_low_f32x4 widens them, f32x4.demote_f64x2_zero and v128.store64_lane store 2
;; back), then one float for odd E. Rows are independent; nothing else is needed.
;;
;; Calling convention (byte addresses in the shared memory, element counts, ids int32):
;;   sgd_rows_f32(U, E, lr, table, R, ids, grad) → status
;;   adagrad_rows_f32(U, E, lr, eps, table, R, acc, ids, grad) → status
;;   rowwise_adagrad_rows_f32(U, E, lr, eps, table, R, acc, ids, grad) → status
;;   lr, eps are f64; status: 0 done; u+1 when ids[u] is outside [0, R) (rows before u are
;;   already updated: the caller checks ids first when that matters).

(module
  (import "env" "memory" (memory 1 65536 shared))

  (func (export "sgd_rows_f32")
    (param $U i32) (param $E i32) (param $lr f64) (param $table i32) (param $R i32)
    (param $ids i32) (param $grad i32)
    (result i32)
    (local $u i32) (local $r i32) (local $e i32) (local $t i32) (local $g i32) (local $rowb i32)
    (local $vlr v128)
    (local.set $rowb (i32.shl (local.get $E) (i32.const 2)))
    (local.set $vlr (f64x2.splat (local.get $lr)))
    (local.set $g (local.get $grad))   ;; grad rows are consecutive: g walks through all of them
    (block $rows_done
      (loop $rows
        (br_if $rows_done (i32.ge_u (local.get $u) (local.get $U)))
        (local.set $r (i32.load (i32.add (local.get $ids) (i32.shl (local.get $u) (i32.const 2)))))
        (if (i32.ge_u (local.get $r) (local.get $R)) (then (return (i32.add (local.get $u) (i32.const 1)))))
        (local.set $t (i32.add (local.get $table) (i32.mul (local.get $r) (local.get $rowb))))
        (local.set $e (i32.const 0))
        ;; table[r][e, e+1] = f32(t - lr·g), two at a time
        (block $e2_done
          (loop $e2
            (br_if $e2_done (i32.gt_u (i32.add (local.get $e) (i32.const 2)) (local.get $E)))
            (v128.store64_lane 0 (local.get $t) (f32x4.demote_f64x2_zero
              (f64x2.sub (f64x2.promote_low_f32x4 (v128.load64_zero (local.get $t)))
                         (f64x2.mul (local.get $vlr) (f64x2.promote_low_f32x4 (v128.load64_zero (local.get $g)))))))
            (local.set $t (i32.add (local.get $t) (i32.const 8)))
            (local.set $g (i32.add (local.get $g) (i32.const 8)))
            (local.set $e (i32.add (local.get $e) (i32.const 2)))
            (br $e2)))
        ;; the last one for odd E
        (if (i32.lt_u (local.get $e) (local.get $E))
          (then
            (f32.store (local.get $t) (f32.demote_f64
              (f64.sub (f64.promote_f32 (f32.load (local.get $t)))
                       (f64.mul (local.get $lr) (f64.promote_f32 (f32.load (local.get $g)))))))
            (local.set $g (i32.add (local.get $g) (i32.const 4)))))
        (local.set $u (i32.add (local.get $u) (i32.const 1)))
        (br $rows)))
    (i32.const 0))

  (func (export "adagrad_rows_f32")
    (param $U i32) (param $E i32) (param $lr f64) (param $eps f64) (param $table i32) (param $R i32)
    (param $acc i32) (param $ids i32) (param $grad i32)
    (result i32)
    (local $u i32) (local $r i32) (local $e i32) (local $t i32) (local $a i32) (local $g i32)
    (local $rowb i32)
    (local $vlr v128) (local $veps v128) (local $vg v128) (local $va v128)
    (local $sg f64) (local $sa f64)
    (local.set $rowb (i32.shl (local.get $E) (i32.const 2)))
    (local.set $vlr (f64x2.splat (local.get $lr)))
    (local.set $veps (f64x2.splat (local.get $eps)))
    (local.set $g (local.get $grad))
    (block $rows_done
      (loop $rows
        (br_if $rows_done (i32.ge_u (local.get $u) (local.get $U)))
        (local.set $r (i32.load (i32.add (local.get $ids) (i32.shl (local.get $u) (i32.const 2)))))
        (if (i32.ge_u (local.get $r) (local.get $R)) (then (return (i32.add (local.get $u) (i32.const 1)))))
        ;; table row and accumulator row r
        (local.set $t (i32.add (local.get $table) (i32.mul (local.get $r) (local.get $rowb))))
        (local.set $a (i32.add (local.get $acc) (i32.mul (local.get $r) (local.get $rowb))))
        (local.set $e (i32.const 0))
        (block $e2_done
          (loop $e2
            (br_if $e2_done (i32.gt_u (i32.add (local.get $e) (i32.const 2)) (local.get $E)))
            (local.set $vg (f64x2.promote_low_f32x4 (v128.load64_zero (local.get $g))))
            ;; a = acc + g²; acc = f32(a)
            (local.set $va (f64x2.add (f64x2.promote_low_f32x4 (v128.load64_zero (local.get $a)))
                                      (f64x2.mul (local.get $vg) (local.get $vg))))
            (v128.store64_lane 0 (local.get $a) (f32x4.demote_f64x2_zero (local.get $va)))
            ;; table = f32(table - lr·g / (sqrt(a) + eps)), with a unrounded
            (v128.store64_lane 0 (local.get $t) (f32x4.demote_f64x2_zero
              (f64x2.sub (f64x2.promote_low_f32x4 (v128.load64_zero (local.get $t)))
                         (f64x2.div (f64x2.mul (local.get $vlr) (local.get $vg))
                                    (f64x2.add (f64x2.sqrt (local.get $va)) (local.get $veps))))))
            (local.set $t (i32.add (local.get $t) (i32.const 8)))
            (local.set $a (i32.add (local.get $a) (i32.const 8)))
            (local.set $g (i32.add (local.get $g) (i32.const 8)))
            (local.set $e (i32.add (local.get $e) (i32.const 2)))
            (br $e2)))
        (if (i32.lt_u (local.get $e) (local.get $E))
          (then
            (local.set $sg (f64.promote_f32 (f32.load (local.get $g))))
            (local.set $sa (f64.add (f64.promote_f32 (f32.load (local.get $a))) (f64.mul (local.get $sg) (local.get $sg))))
            (f32.store (local.get $a) (f32.demote_f64 (local.get $sa)))
            (f32.store (local.get $t) (f32.demote_f64
              (f64.sub (f64.promote_f32 (f32.load (local.get $t)))
                       (f64.div (f64.mul (local.get $lr) (local.get $sg))
                                (f64.add (f64.sqrt (local.get $sa)) (local.get $eps))))))
            (local.set $g (i32.add (local.get $g) (i32.const 4)))))
        (local.set $u (i32.add (local.get $u) (i32.const 1)))
        (br $rows)))
    (i32.const 0))

  (func (export "rowwise_adagrad_rows_f32")
    (param $U i32) (param $E i32) (param $lr f64) (param $eps f64) (param $table i32) (param $R i32)
    (param $acc i32) (param $ids i32) (param $grad i32)
    (result i32)
    (local $u i32) (local $r i32) (local $e i32) (local $t i32) (local $g i32) (local $p i32)
    (local $rowb i32)
    (local $vstep v128)
    (local $sq f64) (local $x f64) (local $sa f64) (local $step f64)
    (local.set $rowb (i32.shl (local.get $E) (i32.const 2)))
    (block $rows_done
      (loop $rows
        (br_if $rows_done (i32.ge_u (local.get $u) (local.get $U)))
        (local.set $r (i32.load (i32.add (local.get $ids) (i32.shl (local.get $u) (i32.const 2)))))
        (if (i32.ge_u (local.get $r) (local.get $R)) (then (return (i32.add (local.get $u) (i32.const 1)))))
        (local.set $g (i32.add (local.get $grad) (i32.mul (local.get $u) (local.get $rowb))))
        ;; sq = Σ g², in order
        (local.set $sq (f64.const 0))
        (local.set $p (local.get $g))
        (local.set $e (i32.const 0))
        (block $s_done
          (loop $s
            (br_if $s_done (i32.ge_u (local.get $e) (local.get $E)))
            (local.set $x (f64.promote_f32 (f32.load (local.get $p))))
            (local.set $sq (f64.add (local.get $sq) (f64.mul (local.get $x) (local.get $x))))
            (local.set $p (i32.add (local.get $p) (i32.const 4)))
            (local.set $e (i32.add (local.get $e) (i32.const 1)))
            (br $s)))
        ;; a = acc[r] + sq / E (nothing added for E = 0); acc[r] = f32(a)
        (local.set $p (i32.add (local.get $acc) (i32.shl (local.get $r) (i32.const 2))))
        (local.set $sa (f64.promote_f32 (f32.load (local.get $p))))
        (if (local.get $E)
          (then (local.set $sa (f64.add (local.get $sa) (f64.div (local.get $sq) (f64.convert_i32_u (local.get $E)))))))
        (f32.store (local.get $p) (f32.demote_f64 (local.get $sa)))
        ;; step = lr / (sqrt(a) + eps); table[r] = f32(table[r] - step · g)
        (local.set $step (f64.div (local.get $lr) (f64.add (f64.sqrt (local.get $sa)) (local.get $eps))))
        (local.set $vstep (f64x2.splat (local.get $step)))
        (local.set $t (i32.add (local.get $table) (i32.mul (local.get $r) (local.get $rowb))))
        (local.set $e (i32.const 0))
        (block $e2_done
          (loop $e2
            (br_if $e2_done (i32.gt_u (i32.add (local.get $e) (i32.const 2)) (local.get $E)))
            (v128.store64_lane 0 (local.get $t) (f32x4.demote_f64x2_zero
              (f64x2.sub (f64x2.promote_low_f32x4 (v128.load64_zero (local.get $t)))
                         (f64x2.mul (local.get $vstep) (f64x2.promote_low_f32x4 (v128.load64_zero (local.get $g)))))))
            (local.set $t (i32.add (local.get $t) (i32.const 8)))
            (local.set $g (i32.add (local.get $g) (i32.const 8)))
            (local.set $e (i32.add (local.get $e) (i32.const 2)))
            (br $e2)))
        (if (i32.lt_u (local.get $e) (local.get $E))
          (then
            (f32.store (local.get $t) (f32.demote_f64
              (f64.sub (f64.promote_f32 (f32.load (local.get $t)))
                       (f64.mul (local.get $step) (f64.promote_f32 (f32.load (local.get $g)))))))))
        (local.set $u (i32.add (local.get $u) (i32.const 1)))
        (br $rows)))
    (i32.const 0))
)
