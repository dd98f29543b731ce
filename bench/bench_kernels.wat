;; bench_kernels.wat — kernels that measure ceilings and baselines; assembled at bench time
;; by bench/ceilings.ts (never shipped in src/):
;;   simd_peak(iters) → f32     register-only f32x4 multiply + add loop: the compute ceiling
;;   triad(n, a, b, c, s)       STREAM triad a[i] = b[i] + s·c[i]: the bandwidth ceiling
;;   embedding_bag_sum_naive(B, E, table, indices, offsets, out)
;;                              the naive scalar gather: the "≥ 2× naive" baseline
;; Calling convention: byte addresses in the shared memory, element counts.

(module
  (import "env" "memory" (memory 1 65536 shared))

  ;; 12 independent chains of acc = acc·x + y (a multiply and an add, 8 flops per chain per
  ;; step). The chains hide the multiply + add latency, so the loop runs at the multiply and
  ;; add throughput: with 12 the measured rate stops growing on this machine, and 12 chains
  ;; + x + y fit V8's 15 vector registers (the generated code has no spills). Every chain
  ;; multiplies its own value, so nothing can be shared, and every result feeds the return
  ;; value, so nothing can be dropped. x < 1 keeps values bounded (no overflow, no
  ;; denormals). Flops = iters · 12 · 8.
  (func (export "simd_peak") (param $iters i32) (result f32)
    (local $x v128) (local $y v128)
    (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128) (local $a4 v128) (local $a5 v128)
    (local $a6 v128) (local $a7 v128) (local $a8 v128) (local $a9 v128) (local $a10 v128) (local $a11 v128)
    (local.set $x (v128.const f32x4 0.9999999 0.9999998 0.9999997 0.9999996))
    (local.set $y (v128.const f32x4 0.5 0.25 0.125 0.0625))
    (loop $l
      (local.set $a0 (f32x4.add (f32x4.mul (local.get $a0) (local.get $x)) (local.get $y)))
      (local.set $a1 (f32x4.add (f32x4.mul (local.get $a1) (local.get $x)) (local.get $y)))
      (local.set $a2 (f32x4.add (f32x4.mul (local.get $a2) (local.get $x)) (local.get $y)))
      (local.set $a3 (f32x4.add (f32x4.mul (local.get $a3) (local.get $x)) (local.get $y)))
      (local.set $a4 (f32x4.add (f32x4.mul (local.get $a4) (local.get $x)) (local.get $y)))
      (local.set $a5 (f32x4.add (f32x4.mul (local.get $a5) (local.get $x)) (local.get $y)))
      (local.set $a6 (f32x4.add (f32x4.mul (local.get $a6) (local.get $x)) (local.get $y)))
      (local.set $a7 (f32x4.add (f32x4.mul (local.get $a7) (local.get $x)) (local.get $y)))
      (local.set $a8 (f32x4.add (f32x4.mul (local.get $a8) (local.get $x)) (local.get $y)))
      (local.set $a9 (f32x4.add (f32x4.mul (local.get $a9) (local.get $x)) (local.get $y)))
      (local.set $a10 (f32x4.add (f32x4.mul (local.get $a10) (local.get $x)) (local.get $y)))
      (local.set $a11 (f32x4.add (f32x4.mul (local.get $a11) (local.get $x)) (local.get $y)))
      (br_if $l (local.tee $iters (i32.sub (local.get $iters) (i32.const 1)))))
    (f32x4.extract_lane 0
      (f32x4.add
        (f32x4.add
          (f32x4.add (f32x4.add (local.get $a0) (local.get $a1)) (f32x4.add (local.get $a2) (local.get $a3)))
          (f32x4.add (f32x4.add (local.get $a4) (local.get $a5)) (f32x4.add (local.get $a6) (local.get $a7))))
        (f32x4.add (f32x4.add (local.get $a8) (local.get $a9)) (f32x4.add (local.get $a10) (local.get $a11))))))

  ;; a[i] = b[i] + s·c[i] for i < n (n a multiple of 16), 16 floats per step.
  ;; Bytes moved = 12·n (read b and c, write a).
  (func (export "triad") (param $n i32) (param $a i32) (param $b i32) (param $c i32) (param $s f32)
    (local $vs v128) (local $end i32)
    (local.set $vs (f32x4.splat (local.get $s)))
    (local.set $end (i32.add (local.get $a) (i32.shl (local.get $n) (i32.const 2))))
    (loop $l
      (v128.store offset=0 (local.get $a) (f32x4.add (v128.load offset=0 (local.get $b)) (f32x4.mul (local.get $vs) (v128.load offset=0 (local.get $c)))))
      (v128.store offset=16 (local.get $a) (f32x4.add (v128.load offset=16 (local.get $b)) (f32x4.mul (local.get $vs) (v128.load offset=16 (local.get $c)))))
      (v128.store offset=32 (local.get $a) (f32x4.add (v128.load offset=32 (local.get $b)) (f32x4.mul (local.get $vs) (v128.load offset=32 (local.get $c)))))
      (v128.store offset=48 (local.get $a) (f32x4.add (v128.load offset=48 (local.get $b)) (f32x4.mul (local.get $vs) (v128.load offset=48 (local.get $c)))))
      (local.set $b (i32.add (local.get $b) (i32.const 64)))
      (local.set $c (i32.add (local.get $c) (i32.const 64)))
      (br_if $l (i32.lt_u (local.tee $a (i32.add (local.get $a) (i32.const 64))) (local.get $end)))))

  ;; The plain scalar loop of ref.ts (sum, no weights): out[b][e] = Σ_l table[indices[l]][e],
  ;; one float at a time, the sum kept in out as the reference does.
  (func (export "embedding_bag_sum_naive")
    (param $B i32) (param $E i32) (param $table i32) (param $indices i32) (param $offsets i32) (param $out i32)
    (local $b i32) (local $l i32) (local $end i32) (local $e i32) (local $o i32) (local $row i32)
    (block $bags_done
      (loop $bags
        (br_if $bags_done (i32.ge_u (local.get $b) (local.get $B)))
        (local.set $o (i32.add (local.get $out) (i32.shl (i32.mul (local.get $b) (local.get $E)) (i32.const 2))))
        (local.set $e (i32.const 0))
        (block $z_done
          (loop $z
            (br_if $z_done (i32.ge_u (local.get $e) (local.get $E)))
            (f32.store (i32.add (local.get $o) (i32.shl (local.get $e) (i32.const 2))) (f32.const 0))
            (local.set $e (i32.add (local.get $e) (i32.const 1)))
            (br $z)))
        (local.set $l (i32.load (i32.add (local.get $offsets) (i32.shl (local.get $b) (i32.const 2)))))
        (local.set $end (i32.load offset=4 (i32.add (local.get $offsets) (i32.shl (local.get $b) (i32.const 2)))))
        (block $l_done
          (loop $lookups
            (br_if $l_done (i32.ge_u (local.get $l) (local.get $end)))
            (local.set $row (i32.add (local.get $table)
              (i32.shl (i32.mul (i32.load (i32.add (local.get $indices) (i32.shl (local.get $l) (i32.const 2)))) (local.get $E))
                       (i32.const 2))))
            (local.set $e (i32.const 0))
            (block $e_done
              (loop $elems
                (br_if $e_done (i32.ge_u (local.get $e) (local.get $E)))
                (f32.store (i32.add (local.get $o) (i32.shl (local.get $e) (i32.const 2)))
                  (f32.add (f32.load (i32.add (local.get $o) (i32.shl (local.get $e) (i32.const 2))))
                           (f32.load (i32.add (local.get $row) (i32.shl (local.get $e) (i32.const 2))))))
                (local.set $e (i32.add (local.get $e) (i32.const 1)))
                (br $elems)))
            (local.set $l (i32.add (local.get $l) (i32.const 1)))
            (br $lookups)))
        (local.set $b (i32.add (local.get $b) (i32.const 1)))
        (br $bags))))
)
