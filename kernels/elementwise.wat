;; elementwise.wat — the memory-bound kernels of a training step, with SIMD128: ReLU forward
;; and backward, the gradient of a Linear layer's bias (a column sum; sgemm adds the bias
;; itself in the forward), both at once for a Linear + ReLU layer, the dense SGD update,
;; zero fill, and the in-place add of the parallel all-reduce (src/parallel/collectives.ts).
;;
;; Glossary: n elements; R rows and C columns of a row-major matrix.
;;
;; The math (the naive loops are in src/kernels/ref.ts, same names without _f32):
;;   relu_fwd_f32(n, x, y)          y = max(x, 0)        (NaN stays NaN, -0 becomes +0)
;;   relu_bwd_f32(n, x, g, gx, acc) acc = 1: gx += g where x > 0 (gx untouched elsewhere)
;;                                  acc = 0: gx = g where x > 0, +0 elsewhere (a new buffer)
;;   col_sum_f32(R, C, x, y)        y (C,) += Σ_r x[r], rows added in order
;;   relu_bwd_col_sum_f32(R, C, y, g, gx, db)
;;                                  gx = g where y > 0, +0 elsewhere; db (C,) += Σ_r gx[r]:
;;                                  relu_bwd then col_sum in one pass (a Linear + ReLU layer)
;;   sgd_dense_f32(n, lr, w, g)     w -= lr·g
;;   fill_zero_f32(n, y)            y = 0 (memory.fill: a memset, where JS's fill on a shared
;;                                  buffer's view runs at a quarter of the speed here)
;;   add_f32(n, x, y)               y += x
;;
;; Every kernel gives the reference's result bit for bit:
;;   - f32x4.max has JS Math.max's NaN and signed-zero rules.
;;   - relu_bwd, col_sum and add add two float32 values, which rounds exactly as JS's f64 add
;;     followed by a float32 store does; relu_bwd leaves gx as it was where x <= 0 (a
;;     bitselect, not an add of +0, which would turn -0 into +0).
;;   - col_sum keeps each column's running sum in a register across the rows, and
;;     relu_bwd_col_sum in db itself, adding row after row as the reference does.
;;   - sgd_dense computes in f64 (lr arrives as f64) and rounds what it stores, like
;;     sparse_rows.wat, so dense and sparse SGD agree bit for bit.
;;
;; The blocking: 16 floats (4 vectors) per step, then 4, then one at a time (relu_fwd, add); col_sum takes
;; 16 columns down all rows, then 4, then one; sgd_dense 4 floats a step (two f64x2 halves).
;;
;; Calling convention: byte addresses in the shared memory, element counts; lr is f64.

(module
  (import "env" "memory" (memory 1 65536 shared))

  (func (export "relu_fwd_f32") (param $n i32) (param $x i32) (param $y i32)
    (local $end i32) (local $zero v128)
    (local.set $end (i32.add (local.get $x) (i32.shl (local.get $n) (i32.const 2))))
    (block $v16_done
      (loop $v16
        (br_if $v16_done (i32.gt_u (i32.add (local.get $x) (i32.const 64)) (local.get $end)))
        (v128.store offset=0 (local.get $y) (f32x4.max (v128.load offset=0 (local.get $x)) (local.get $zero)))
        (v128.store offset=16 (local.get $y) (f32x4.max (v128.load offset=16 (local.get $x)) (local.get $zero)))
        (v128.store offset=32 (local.get $y) (f32x4.max (v128.load offset=32 (local.get $x)) (local.get $zero)))
        (v128.store offset=48 (local.get $y) (f32x4.max (v128.load offset=48 (local.get $x)) (local.get $zero)))
        (local.set $x (i32.add (local.get $x) (i32.const 64)))
        (local.set $y (i32.add (local.get $y) (i32.const 64)))
        (br $v16)))
    (block $v4_done
      (loop $v4
        (br_if $v4_done (i32.gt_u (i32.add (local.get $x) (i32.const 16)) (local.get $end)))
        (v128.store (local.get $y) (f32x4.max (v128.load (local.get $x)) (local.get $zero)))
        (local.set $x (i32.add (local.get $x) (i32.const 16)))
        (local.set $y (i32.add (local.get $y) (i32.const 16)))
        (br $v4)))
    (block $s_done
      (loop $s
        (br_if $s_done (i32.ge_u (local.get $x) (local.get $end)))
        (f32.store (local.get $y) (f32.max (f32.load (local.get $x)) (f32.const 0)))
        (local.set $x (i32.add (local.get $x) (i32.const 4)))
        (local.set $y (i32.add (local.get $y) (i32.const 4)))
        (br $s))))

  (func (export "relu_bwd_f32") (param $n i32) (param $x i32) (param $g i32) (param $gx i32) (param $acc i32)
    (local $end i32) (local $zero v128) (local $old v128) (local $mask v128)
    (local.set $end (i32.add (local.get $x) (i32.shl (local.get $n) (i32.const 2))))
    (block $v4_done
      (loop $v4
        (br_if $v4_done (i32.gt_u (i32.add (local.get $x) (i32.const 16)) (local.get $end)))
        (local.set $mask (f32x4.gt (v128.load (local.get $x)) (local.get $zero)))
        (if (local.get $acc)
          (then
            ;; gx = x > 0 ? gx + g : gx
            (local.set $old (v128.load (local.get $gx)))
            (v128.store (local.get $gx) (v128.bitselect
              (f32x4.add (local.get $old) (v128.load (local.get $g))) (local.get $old) (local.get $mask))))
          (else
            ;; gx = x > 0 ? g : +0
            (v128.store (local.get $gx) (v128.and (v128.load (local.get $g)) (local.get $mask)))))
        (local.set $x (i32.add (local.get $x) (i32.const 16)))
        (local.set $g (i32.add (local.get $g) (i32.const 16)))
        (local.set $gx (i32.add (local.get $gx) (i32.const 16)))
        (br $v4)))
    (block $s_done
      (loop $s
        (br_if $s_done (i32.ge_u (local.get $x) (local.get $end)))
        (if (local.get $acc)
          (then
            (if (f32.gt (f32.load (local.get $x)) (f32.const 0))
              (then (f32.store (local.get $gx) (f32.add (f32.load (local.get $gx)) (f32.load (local.get $g)))))))
          (else
            (f32.store (local.get $gx)
              (select (f32.load (local.get $g)) (f32.const 0) (f32.gt (f32.load (local.get $x)) (f32.const 0))))))
        (local.set $x (i32.add (local.get $x) (i32.const 4)))
        (local.set $g (i32.add (local.get $g) (i32.const 4)))
        (local.set $gx (i32.add (local.get $gx) (i32.const 4)))
        (br $s))))

  (func (export "col_sum_f32") (param $R i32) (param $C i32) (param $x i32) (param $y i32)
    (local $c i32) (local $r i32) (local $p i32) (local $Cb i32)
    (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128) (local $s f32)
    (local.set $Cb (i32.shl (local.get $C) (i32.const 2)))
    ;; 16 columns at a time
    (block $c16_done
      (loop $c16
        (br_if $c16_done (i32.gt_u (i32.add (local.get $c) (i32.const 16)) (local.get $C)))
        (local.set $a0 (v128.load offset=0 (i32.add (local.get $y) (i32.shl (local.get $c) (i32.const 2)))))
        (local.set $a1 (v128.load offset=16 (i32.add (local.get $y) (i32.shl (local.get $c) (i32.const 2)))))
        (local.set $a2 (v128.load offset=32 (i32.add (local.get $y) (i32.shl (local.get $c) (i32.const 2)))))
        (local.set $a3 (v128.load offset=48 (i32.add (local.get $y) (i32.shl (local.get $c) (i32.const 2)))))
        (local.set $p (i32.add (local.get $x) (i32.shl (local.get $c) (i32.const 2))))
        (local.set $r (i32.const 0))
        (block $r_done
          (loop $r_loop
            (br_if $r_done (i32.ge_u (local.get $r) (local.get $R)))
            (local.set $a0 (f32x4.add (local.get $a0) (v128.load offset=0 (local.get $p))))
            (local.set $a1 (f32x4.add (local.get $a1) (v128.load offset=16 (local.get $p))))
            (local.set $a2 (f32x4.add (local.get $a2) (v128.load offset=32 (local.get $p))))
            (local.set $a3 (f32x4.add (local.get $a3) (v128.load offset=48 (local.get $p))))
            (local.set $p (i32.add (local.get $p) (local.get $Cb)))
            (local.set $r (i32.add (local.get $r) (i32.const 1)))
            (br $r_loop)))
        (v128.store offset=0 (i32.add (local.get $y) (i32.shl (local.get $c) (i32.const 2))) (local.get $a0))
        (v128.store offset=16 (i32.add (local.get $y) (i32.shl (local.get $c) (i32.const 2))) (local.get $a1))
        (v128.store offset=32 (i32.add (local.get $y) (i32.shl (local.get $c) (i32.const 2))) (local.get $a2))
        (v128.store offset=48 (i32.add (local.get $y) (i32.shl (local.get $c) (i32.const 2))) (local.get $a3))
        (local.set $c (i32.add (local.get $c) (i32.const 16)))
        (br $c16)))
    ;; then 4 at a time
    (block $c4_done
      (loop $c4
        (br_if $c4_done (i32.gt_u (i32.add (local.get $c) (i32.const 4)) (local.get $C)))
        (local.set $a0 (v128.load (i32.add (local.get $y) (i32.shl (local.get $c) (i32.const 2)))))
        (local.set $p (i32.add (local.get $x) (i32.shl (local.get $c) (i32.const 2))))
        (local.set $r (i32.const 0))
        (block $r4_done
          (loop $r4
            (br_if $r4_done (i32.ge_u (local.get $r) (local.get $R)))
            (local.set $a0 (f32x4.add (local.get $a0) (v128.load (local.get $p))))
            (local.set $p (i32.add (local.get $p) (local.get $Cb)))
            (local.set $r (i32.add (local.get $r) (i32.const 1)))
            (br $r4)))
        (v128.store (i32.add (local.get $y) (i32.shl (local.get $c) (i32.const 2))) (local.get $a0))
        (local.set $c (i32.add (local.get $c) (i32.const 4)))
        (br $c4)))
    ;; then one column at a time
    (block $c1_done
      (loop $c1
        (br_if $c1_done (i32.ge_u (local.get $c) (local.get $C)))
        (local.set $s (f32.load (i32.add (local.get $y) (i32.shl (local.get $c) (i32.const 2)))))
        (local.set $p (i32.add (local.get $x) (i32.shl (local.get $c) (i32.const 2))))
        (local.set $r (i32.const 0))
        (block $r1_done
          (loop $r1
            (br_if $r1_done (i32.ge_u (local.get $r) (local.get $R)))
            (local.set $s (f32.add (local.get $s) (f32.load (local.get $p))))
            (local.set $p (i32.add (local.get $p) (local.get $Cb)))
            (local.set $r (i32.add (local.get $r) (i32.const 1)))
            (br $r1)))
        (f32.store (i32.add (local.get $y) (i32.shl (local.get $c) (i32.const 2))) (local.get $s))
        (local.set $c (i32.add (local.get $c) (i32.const 1)))
        (br $c1))))

;; relu_bwd_col_sum_f32(R, C, y, g, gx, db): the backward of a Linear layer with its ReLU
  ;; fused (sgemm's relu epilogue): gx = g where y > 0, +0 elsewhere (written), and db (C,) +=
  ;; the column sums of gx, row after row — relu_bwd (acc = 0) then col_sum in one pass. y is
  ;; the layer's output: y > 0 exactly where the pre-activation was > 0. Row by row, 4
  ;; columns a step, then one: y, g and gx stream through once while db (C floats) stays in
  ;; L1 (going down 16-column strips instead, as col_sum does, was slower here: three
  ;; strided streams). $p walks the row, $q walks db.
  (func (export "relu_bwd_col_sum_f32") (param $R i32) (param $C i32) (param $y i32) (param $g i32) (param $gx i32) (param $db i32)
    (local $r i32) (local $p i32) (local $q i32) (local $rowEnd i32) (local $dbEnd i32) (local $dbEnd4 i32)
    (local $zero v128) (local $v v128) (local $w f32)
    (local.set $dbEnd (i32.add (local.get $db) (i32.shl (local.get $C) (i32.const 2))))
    (local.set $dbEnd4 (i32.add (local.get $db) (i32.shl (i32.and (local.get $C) (i32.const -4)) (i32.const 2))))
    (block $rows_done
      (loop $rows
        (br_if $rows_done (i32.ge_u (local.get $r) (local.get $R)))
        (local.set $p (i32.shl (i32.mul (local.get $r) (local.get $C)) (i32.const 2))) ;; byte offset of row r
        (local.set $q (local.get $db))
        (block $v4_done
          (loop $v4
            (br_if $v4_done (i32.ge_u (local.get $q) (local.get $dbEnd4)))
            ;; v = g & (y > 0): g where y > 0, +0 elsewhere
            (local.set $v (v128.and (v128.load (i32.add (local.get $g) (local.get $p)))
              (f32x4.gt (v128.load (i32.add (local.get $y) (local.get $p))) (local.get $zero))))
            (v128.store (i32.add (local.get $gx) (local.get $p)) (local.get $v))
            (v128.store (local.get $q) (f32x4.add (v128.load (local.get $q)) (local.get $v)))
            (local.set $p (i32.add (local.get $p) (i32.const 16)))
            (local.set $q (i32.add (local.get $q) (i32.const 16)))
            (br $v4)))
        (block $s_done
          (loop $s
            (br_if $s_done (i32.ge_u (local.get $q) (local.get $dbEnd)))
            (local.set $w (select (f32.load (i32.add (local.get $g) (local.get $p))) (f32.const 0)
              (f32.gt (f32.load (i32.add (local.get $y) (local.get $p))) (f32.const 0))))
            (f32.store (i32.add (local.get $gx) (local.get $p)) (local.get $w))
            (f32.store (local.get $q) (f32.add (f32.load (local.get $q)) (local.get $w)))
            (local.set $p (i32.add (local.get $p) (i32.const 4)))
            (local.set $q (i32.add (local.get $q) (i32.const 4)))
            (br $s)))
        (local.set $r (i32.add (local.get $r) (i32.const 1)))
        (br $rows))))

  (func (export "sgd_dense_f32") (param $n i32) (param $lr f64) (param $w i32) (param $g i32)
    (local $end i32) (local $vlr v128) (local $vw v128) (local $vg v128)
    (local.set $vlr (f64x2.splat (local.get $lr)))
    (local.set $end (i32.add (local.get $w) (i32.shl (local.get $n) (i32.const 2))))
    ;; w[i .. i+3] = f32(w - lr·g), four at a time: each half widened to f64x2, updated,
    ;; narrowed, and the two halves put back together
    (block $v4_done
      (loop $v4
        (br_if $v4_done (i32.gt_u (i32.add (local.get $w) (i32.const 16)) (local.get $end)))
        (local.set $vw (v128.load (local.get $w)))
        (local.set $vg (v128.load (local.get $g)))
        (v128.store (local.get $w) (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23
          (f32x4.demote_f64x2_zero
            (f64x2.sub (f64x2.promote_low_f32x4 (local.get $vw))
                       (f64x2.mul (local.get $vlr) (f64x2.promote_low_f32x4 (local.get $vg)))))
          (f32x4.demote_f64x2_zero
            (f64x2.sub (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 8 9 10 11 12 13 14 15 (local.get $vw) (local.get $vw)))
                       (f64x2.mul (local.get $vlr)
                         (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 8 9 10 11 12 13 14 15 (local.get $vg) (local.get $vg))))))))
        (local.set $w (i32.add (local.get $w) (i32.const 16)))
        (local.set $g (i32.add (local.get $g) (i32.const 16)))
        (br $v4)))
    ;; the last n mod 4, one at a time
    (block $s_done
      (loop $s
        (br_if $s_done (i32.ge_u (local.get $w) (local.get $end)))
        (f32.store (local.get $w) (f32.demote_f64
          (f64.sub (f64.promote_f32 (f32.load (local.get $w)))
                   (f64.mul (local.get $lr) (f64.promote_f32 (f32.load (local.get $g)))))))
        (local.set $w (i32.add (local.get $w) (i32.const 4)))
        (local.set $g (i32.add (local.get $g) (i32.const 4)))
        (br $s))))

  (func (export "fill_zero_f32") (param $n i32) (param $y i32)
    (memory.fill (local.get $y) (i32.const 0) (i32.shl (local.get $n) (i32.const 2))))

  (func (export "add_f32") (param $n i32) (param $x i32) (param $y i32)
    (local $end i32)
    (local.set $end (i32.add (local.get $x) (i32.shl (local.get $n) (i32.const 2))))
    (block $v16_done
      (loop $v16
        (br_if $v16_done (i32.gt_u (i32.add (local.get $x) (i32.const 64)) (local.get $end)))
        (v128.store offset=0 (local.get $y) (f32x4.add (v128.load offset=0 (local.get $y)) (v128.load offset=0 (local.get $x))))
        (v128.store offset=16 (local.get $y) (f32x4.add (v128.load offset=16 (local.get $y)) (v128.load offset=16 (local.get $x))))
        (v128.store offset=32 (local.get $y) (f32x4.add (v128.load offset=32 (local.get $y)) (v128.load offset=32 (local.get $x))))
        (v128.store offset=48 (local.get $y) (f32x4.add (v128.load offset=48 (local.get $y)) (v128.load offset=48 (local.get $x))))
        (local.set $x (i32.add (local.get $x) (i32.const 64)))
        (local.set $y (i32.add (local.get $y) (i32.const 64)))
        (br $v16)))
    (block $v4_done
      (loop $v4
        (br_if $v4_done (i32.gt_u (i32.add (local.get $x) (i32.const 16)) (local.get $end)))
        (v128.store (local.get $y) (f32x4.add (v128.load (local.get $y)) (v128.load (local.get $x))))
        (local.set $x (i32.add (local.get $x) (i32.const 16)))
        (local.set $y (i32.add (local.get $y) (i32.const 16)))
        (br $v4)))
    (block $s_done
      (loop $s
        (br_if $s_done (i32.ge_u (local.get $x) (local.get $end)))
        (f32.store (local.get $y) (f32.add (f32.load (local.get $y)) (f32.load (local.get $x))))
        (local.set $x (i32.add (local.get $x) (i32.const 4)))
        (local.set $y (i32.add (local.get $y) (i32.const 4)))
        (br $s))))
)
