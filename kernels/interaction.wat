;; interaction.wat — DLRM's dot interaction (the lower triangle of each sample's Gram
;; matrix), forward and backward, with SIMD128.
;;
;; Glossary: B samples, F features (the bottom MLP's output and one pooled vector per
;; table), E the length of each feature vector, P pairs = F(F-1)/2, or F(F+1)/2 with self
;; interaction, W = E + P the output row length; x_i the (B, E) matrix of feature i.
;;
;; The math, for each sample b (row b of every x_i):
;;   forward   out[b] = [x_0[b], <x_i[b], x_j[b]> for i < F, j < i (j <= i with self)],
;;             pairs i-major: pair (i, j) sits at E + base(i) + j, base(i) = i(i-1)/2
;;             (i(i+1)/2 with self)
;;   backward  with d(i, j) = dout[b][E + base(i) + j]:
;;             g_i[b] += Σ_{j<i} d(i, j)·x_j[b] + Σ_{k>i} d(k, i)·x_k[b] (+ 2·d(i, i)·x_i[b] with
;;             self), and g_0[b] += dout[b][0 .. E) for the passed-through bottom vector
;; The naive loops are in src/kernels/ref.ts (dot_interaction_fwd, dot_interaction_bwd).
;;
;; The blocking. Forward: the dots of one x_i with four x_j at once, E in steps of 4 with
;; one f32x4 accumulator per pair (5 loads, 4 multiplies, 4 adds per step; the five row
;; pointers advance instead of being recomputed per load); the four
;; accumulators are then reduced together by a 4×4 transpose-and-add (4 shuffles, 3 adds)
;; into one vector holding the four dots, stored with one v128.store — pairs (i, j..j+3)
;; are consecutive in the output. Leftover j are reduced one at a time; E mod 4 tail
;; elements are added as scalars. Backward: per sample, the pair values are first spread
;; into a symmetric F×F matrix C in the work area (C[i][j] = C[j][i] = d(i, j), C[i][i] =
;; 2·d(i, i) with self, else 0), so the gradient is g_i[b] += Σ_j C[i][j]·x_j[b], a row of
;; C times the sample's features. Two rows i, i+1 at a time, the kernel walks all j,
;; broadcasting C[i][j] and C[i+1][j] and adding both multiples of x_j into 8 accumulators
;; (16 floats of E for each row; each x_j vector loaded once for both) that stay in
;; registers across the walk (no calls or branches inside it), then adds them into g_i and
;; g_{i+1} once; E mod 16 goes 4, then 1, at a time. Sums run in float32 in an order
;; other than the reference's, so results agree within float32 rounding, not bit for bit.
;;
;; Calling convention (byte addresses in the shared memory, element counts):
;;   dot_interaction_fwd_f32(B, F, E, self, xs, out)
;;   dot_interaction_bwd_f32(B, F, E, self, xs, dout, gs, work)
;;     xs   F int32 byte addresses, of the (B, E) row-major matrices x_0 .. x_{F-1}
;;     out  (B, W) row-major, written; dout (B, W) row-major, read
;;     gs   F int32 byte addresses of the (B, E) gradients, added into; 0 = no gradient.
;;          An address may repeat (a feature passed twice): each of its uses adds in turn.
;;     work F·F floats of scratch (the sample's symmetric coefficient matrix)
;;     self 0 or 1

(module
  (import "env" "memory" (memory 1 65536 shared))

  (func (export "dot_interaction_fwd_f32")
    (param $B i32) (param $F i32) (param $E i32) (param $self i32) (param $xs i32) (param $out i32)
    (local $W i32) (local $rb i32) (local $b i32) (local $o i32) (local $i i32) (local $j i32)
    (local $jEnd i32) (local $E4 i32) (local $e i32) (local $eb i32)
    (local $xi i32) (local $x0 i32) (local $x1 i32) (local $x2 i32) (local $x3 i32) (local $pi i32)
    (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128) (local $v v128)
    (local $s01 v128) (local $s23 v128) (local $s f32)
    ;; W = E + P
    (local.set $W (i32.add (local.get $E)
      (i32.shr_u (i32.mul (local.get $F)
        (if (result i32) (local.get $self)
          (then (i32.add (local.get $F) (i32.const 1)))
          (else (i32.sub (local.get $F) (i32.const 1)))))
        (i32.const 1))))
    (local.set $E4 (i32.and (local.get $E) (i32.const -4)))
    (local.set $o (local.get $out))
    (block $samples_done
      (loop $samples
        (br_if $samples_done (i32.ge_u (local.get $b) (local.get $B)))
        (local.set $rb (i32.shl (i32.mul (local.get $b) (local.get $E)) (i32.const 2)))
        ;; out[b][0 .. E) = x_0[b]
        (local.set $x0 (i32.add (i32.load (local.get $xs)) (local.get $rb)))
        (local.set $eb (i32.const 0))
        (block $copy_done
          (loop $copy
            (br_if $copy_done (i32.ge_u (local.get $eb) (i32.shl (local.get $E4) (i32.const 2))))
            (v128.store (i32.add (local.get $o) (local.get $eb)) (v128.load (i32.add (local.get $x0) (local.get $eb))))
            (local.set $eb (i32.add (local.get $eb) (i32.const 16)))
            (br $copy)))
        (block $copy1_done
          (loop $copy1
            (br_if $copy1_done (i32.ge_u (local.get $eb) (i32.shl (local.get $E) (i32.const 2))))
            (f32.store (i32.add (local.get $o) (local.get $eb)) (f32.load (i32.add (local.get $x0) (local.get $eb))))
            (local.set $eb (i32.add (local.get $eb) (i32.const 4)))
            (br $copy1)))
        (local.set $o (i32.add (local.get $o) (i32.shl (local.get $E) (i32.const 2))))
        ;; the pairs
        (local.set $i (i32.const 0))
        (block $i_done
          (loop $i_loop
            (br_if $i_done (i32.ge_u (local.get $i) (local.get $F)))
            (local.set $xi (i32.add (i32.load (i32.add (local.get $xs) (i32.shl (local.get $i) (i32.const 2)))) (local.get $rb)))
            (local.set $jEnd (i32.add (local.get $i) (local.get $self)))
            (local.set $j (i32.const 0))
            ;; four dots at a time: pairs (i, j) .. (i, j+3); pointers walk along E
            (block $j4_done
              (loop $j4
                (br_if $j4_done (i32.gt_u (i32.add (local.get $j) (i32.const 4)) (local.get $jEnd)))
                (local.set $x0 (i32.add (i32.load (i32.add (local.get $xs) (i32.shl (local.get $j) (i32.const 2)))) (local.get $rb)))
                (local.set $x1 (i32.add (i32.load offset=4 (i32.add (local.get $xs) (i32.shl (local.get $j) (i32.const 2)))) (local.get $rb)))
                (local.set $x2 (i32.add (i32.load offset=8 (i32.add (local.get $xs) (i32.shl (local.get $j) (i32.const 2)))) (local.get $rb)))
                (local.set $x3 (i32.add (i32.load offset=12 (i32.add (local.get $xs) (i32.shl (local.get $j) (i32.const 2)))) (local.get $rb)))
                (local.set $pi (local.get $xi))
                (local.set $e (local.get $E))
                (local.set $a0 (v128.const i32x4 0 0 0 0))
                (local.set $a1 (v128.const i32x4 0 0 0 0))
                (local.set $a2 (v128.const i32x4 0 0 0 0))
                (local.set $a3 (v128.const i32x4 0 0 0 0))
                ;; 4 elements a step (a vector of each of the five rows: more per step, and V8,
                ;; which hoists a step's loads, runs out of vector registers)
                (block $e4_done
                  (loop $e4
                    (br_if $e4_done (i32.lt_u (local.get $e) (i32.const 4)))
                    (local.set $v (v128.load (local.get $pi)))
                    (local.set $a0 (f32x4.add (local.get $a0) (f32x4.mul (local.get $v) (v128.load (local.get $x0)))))
                    (local.set $a1 (f32x4.add (local.get $a1) (f32x4.mul (local.get $v) (v128.load (local.get $x1)))))
                    (local.set $a2 (f32x4.add (local.get $a2) (f32x4.mul (local.get $v) (v128.load (local.get $x2)))))
                    (local.set $a3 (f32x4.add (local.get $a3) (f32x4.mul (local.get $v) (v128.load (local.get $x3)))))
                    (local.set $pi (i32.add (local.get $pi) (i32.const 16)))
                    (local.set $x0 (i32.add (local.get $x0) (i32.const 16)))
                    (local.set $x1 (i32.add (local.get $x1) (i32.const 16)))
                    (local.set $x2 (i32.add (local.get $x2) (i32.const 16)))
                    (local.set $x3 (i32.add (local.get $x3) (i32.const 16)))
                    (local.set $e (i32.sub (local.get $e) (i32.const 4)))
                    (br $e4)))
                ;; transpose-and-add: s01 = (a0.0+a0.2, a1.0+a1.2, a0.1+a0.3, a1.1+a1.3), s23 alike,
                ;; then (s01.0+s01.2, s01.1+s01.3, s23.0+s23.2, s23.1+s23.3) = the four dots
                (local.set $s01 (f32x4.add
                  (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $a0) (local.get $a1))
                  (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $a0) (local.get $a1))))
                (local.set $s23 (f32x4.add
                  (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $a2) (local.get $a3))
                  (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $a2) (local.get $a3))))
                (v128.store (local.get $o) (f32x4.add
                  (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $s01) (local.get $s23))
                  (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $s01) (local.get $s23))))
                ;; the E mod 4 tail, one element at a time into each of the four dots
                (block $t_done
                  (loop $t
                    (br_if $t_done (i32.eqz (local.get $e)))
                    (local.set $s (f32.load (local.get $pi)))
                    (f32.store offset=0 (local.get $o) (f32.add (f32.load offset=0 (local.get $o))
                      (f32.mul (local.get $s) (f32.load (local.get $x0)))))
                    (f32.store offset=4 (local.get $o) (f32.add (f32.load offset=4 (local.get $o))
                      (f32.mul (local.get $s) (f32.load (local.get $x1)))))
                    (f32.store offset=8 (local.get $o) (f32.add (f32.load offset=8 (local.get $o))
                      (f32.mul (local.get $s) (f32.load (local.get $x2)))))
                    (f32.store offset=12 (local.get $o) (f32.add (f32.load offset=12 (local.get $o))
                      (f32.mul (local.get $s) (f32.load (local.get $x3)))))
                    (local.set $pi (i32.add (local.get $pi) (i32.const 4)))
                    (local.set $x0 (i32.add (local.get $x0) (i32.const 4)))
                    (local.set $x1 (i32.add (local.get $x1) (i32.const 4)))
                    (local.set $x2 (i32.add (local.get $x2) (i32.const 4)))
                    (local.set $x3 (i32.add (local.get $x3) (i32.const 4)))
                    (local.set $e (i32.sub (local.get $e) (i32.const 1)))
                    (br $t)))
                (local.set $o (i32.add (local.get $o) (i32.const 16)))
                (local.set $j (i32.add (local.get $j) (i32.const 4)))
                (br $j4)))
            ;; the last jEnd mod 4 dots, one at a time
            (block $j1_done
              (loop $j1
                (br_if $j1_done (i32.ge_u (local.get $j) (local.get $jEnd)))
                (local.set $x0 (i32.add (i32.load (i32.add (local.get $xs) (i32.shl (local.get $j) (i32.const 2)))) (local.get $rb)))
                (local.set $a0 (v128.const i32x4 0 0 0 0))
                (local.set $eb (i32.const 0))
                (block $e1_done
                  (loop $e1
                    (br_if $e1_done (i32.ge_u (local.get $eb) (i32.shl (local.get $E4) (i32.const 2))))
                    (local.set $a0 (f32x4.add (local.get $a0) (f32x4.mul
                      (v128.load (i32.add (local.get $xi) (local.get $eb)))
                      (v128.load (i32.add (local.get $x0) (local.get $eb))))))
                    (local.set $eb (i32.add (local.get $eb) (i32.const 16)))
                    (br $e1)))
                (local.set $s (f32.add
                  (f32.add (f32x4.extract_lane 0 (local.get $a0)) (f32x4.extract_lane 2 (local.get $a0)))
                  (f32.add (f32x4.extract_lane 1 (local.get $a0)) (f32x4.extract_lane 3 (local.get $a0)))))
                (block $t1_done
                  (loop $t1
                    (br_if $t1_done (i32.ge_u (local.get $eb) (i32.shl (local.get $E) (i32.const 2))))
                    (local.set $s (f32.add (local.get $s) (f32.mul
                      (f32.load (i32.add (local.get $xi) (local.get $eb)))
                      (f32.load (i32.add (local.get $x0) (local.get $eb))))))
                    (local.set $eb (i32.add (local.get $eb) (i32.const 4)))
                    (br $t1)))
                (f32.store (local.get $o) (local.get $s))
                (local.set $o (i32.add (local.get $o) (i32.const 4)))
                (local.set $j (i32.add (local.get $j) (i32.const 1)))
                (br $j1)))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br $i_loop)))
        (local.set $b (i32.add (local.get $b) (i32.const 1)))
        (br $samples))))

  (func (export "dot_interaction_bwd_f32")
    (param $B i32) (param $F i32) (param $E i32) (param $self i32) (param $xs i32) (param $dout i32)
    (param $gs i32) (param $work i32)
    (local $W i32) (local $rb i32) (local $b i32) (local $dr i32) (local $p i32) (local $i i32) (local $j i32)
    (local $jEnd i32) (local $gi i32) (local $gi1 i32) (local $xj i32) (local $crow i32) (local $crow1 i32)
    (local $eb i32) (local $Eb i32) (local $g0 i32)
    (local $Fb i32) (local $d f32) (local $vc v128) (local $vc1 v128) (local $x v128)
    (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128)
    (local $b0 v128) (local $b1 v128) (local $b2 v128) (local $b3 v128) (local $s f32) (local $s1 f32) (local $xv f32)
    ;; W = E + P
    (local.set $W (i32.add (local.get $E)
      (i32.shr_u (i32.mul (local.get $F)
        (if (result i32) (local.get $self)
          (then (i32.add (local.get $F) (i32.const 1)))
          (else (i32.sub (local.get $F) (i32.const 1)))))
        (i32.const 1))))
    (local.set $Eb (i32.shl (local.get $E) (i32.const 2)))
    (local.set $Fb (i32.shl (local.get $F) (i32.const 2)))
    (local.set $g0 (i32.load (local.get $gs)))
    ;; C = 0 (without self its diagonal stays 0)
    (local.set $p (i32.const 0))
    (block $z_done
      (loop $z
        (br_if $z_done (i32.ge_u (local.get $p) (i32.mul (local.get $F) (local.get $Fb))))
        (f32.store (i32.add (local.get $work) (local.get $p)) (f32.const 0))
        (local.set $p (i32.add (local.get $p) (i32.const 4)))
        (br $z)))
    (block $samples_done
      (loop $samples
        (br_if $samples_done (i32.ge_u (local.get $b) (local.get $B)))
        (local.set $rb (i32.mul (local.get $b) (local.get $Eb)))
        (local.set $dr (i32.add (local.get $dout) (i32.shl (i32.mul (local.get $b) (local.get $W)) (i32.const 2))))
        ;; g_0[b] += dout[b][0 .. E): the passed-through bottom vector
        (if (local.get $g0)
          (then
            (local.set $eb (i32.const 0))
            (block $p4_done
              (loop $p4
                (br_if $p4_done (i32.gt_u (i32.add (local.get $eb) (i32.const 16)) (local.get $Eb)))
                (v128.store (i32.add (i32.add (local.get $g0) (local.get $rb)) (local.get $eb))
                  (f32x4.add (v128.load (i32.add (i32.add (local.get $g0) (local.get $rb)) (local.get $eb)))
                             (v128.load (i32.add (local.get $dr) (local.get $eb)))))
                (local.set $eb (i32.add (local.get $eb) (i32.const 16)))
                (br $p4)))
            (block $p1_done
              (loop $p1
                (br_if $p1_done (i32.ge_u (local.get $eb) (local.get $Eb)))
                (f32.store (i32.add (i32.add (local.get $g0) (local.get $rb)) (local.get $eb))
                  (f32.add (f32.load (i32.add (i32.add (local.get $g0) (local.get $rb)) (local.get $eb)))
                           (f32.load (i32.add (local.get $dr) (local.get $eb)))))
                (local.set $eb (i32.add (local.get $eb) (i32.const 4)))
                (br $p1)))))
        ;; C (F×F, symmetric) from the sample's pairs: C[i][j] = C[j][i] = d(i, j), C[i][i] = 2·d(i, i)
        (local.set $p (i32.add (local.get $dr) (local.get $Eb)))
        (local.set $i (i32.const 0))
        (block $ci_done
          (loop $ci
            (br_if $ci_done (i32.ge_u (local.get $i) (local.get $F)))
            (local.set $jEnd (i32.add (local.get $i) (local.get $self)))
            (local.set $j (i32.const 0))
            (block $cj_done
              (loop $cj
                (br_if $cj_done (i32.ge_u (local.get $j) (local.get $jEnd)))
                (local.set $d (f32.load (local.get $p)))
                (if (i32.eq (local.get $i) (local.get $j))
                  (then (f32.store (i32.add (local.get $work) (i32.add (i32.mul (local.get $i) (local.get $Fb)) (i32.shl (local.get $j) (i32.const 2))))
                          (f32.add (local.get $d) (local.get $d))))
                  (else
                    (f32.store (i32.add (local.get $work) (i32.add (i32.mul (local.get $i) (local.get $Fb)) (i32.shl (local.get $j) (i32.const 2))))
                      (local.get $d))
                    (f32.store (i32.add (local.get $work) (i32.add (i32.mul (local.get $j) (local.get $Fb)) (i32.shl (local.get $i) (i32.const 2))))
                      (local.get $d))))
                (local.set $p (i32.add (local.get $p) (i32.const 4)))
                (local.set $j (i32.add (local.get $j) (i32.const 1)))
                (br $cj)))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br $ci)))
        ;; g_i[b] += Σ_j C[i][j]·x_j[b], two rows i, i+1 at a time (each x_j loaded once for
        ;; both); with F odd the last pair's second row is a stand-in (row i again, not stored)
        (local.set $i (i32.const 0))
        (block $i_done
          (loop $i_loop
            (br_if $i_done (i32.ge_u (local.get $i) (local.get $F)))
            (local.set $gi (i32.load (i32.add (local.get $gs) (i32.shl (local.get $i) (i32.const 2)))))
            (local.set $crow (i32.add (local.get $work) (i32.mul (local.get $i) (local.get $Fb))))
            (if (i32.lt_u (i32.add (local.get $i) (i32.const 1)) (local.get $F))
              (then
                (local.set $gi1 (i32.load offset=4 (i32.add (local.get $gs) (i32.shl (local.get $i) (i32.const 2)))))
                (local.set $crow1 (i32.add (local.get $crow) (local.get $Fb))))
              (else
                (local.set $gi1 (i32.const 0))
                (local.set $crow1 (local.get $crow))))
            (if (i32.or (local.get $gi) (local.get $gi1))
              (then
                (if (local.get $gi) (then (local.set $gi (i32.add (local.get $gi) (local.get $rb)))))
                (if (local.get $gi1) (then (local.set $gi1 (i32.add (local.get $gi1) (local.get $rb)))))
                (local.set $eb (i32.const 0))
                ;; 16 floats of both rows at a time: 8 accumulators, 4 x vectors, 2 coefficients
                (block $e16_done
                  (loop $e16
                    (br_if $e16_done (i32.gt_u (i32.add (local.get $eb) (i32.const 64)) (local.get $Eb)))
                    (local.set $a0 (v128.const i32x4 0 0 0 0))
                    (local.set $a1 (v128.const i32x4 0 0 0 0))
                    (local.set $a2 (v128.const i32x4 0 0 0 0))
                    (local.set $a3 (v128.const i32x4 0 0 0 0))
                    (local.set $b0 (v128.const i32x4 0 0 0 0))
                    (local.set $b1 (v128.const i32x4 0 0 0 0))
                    (local.set $b2 (v128.const i32x4 0 0 0 0))
                    (local.set $b3 (v128.const i32x4 0 0 0 0))
                    (local.set $j (i32.const 0))
                    (loop $j16
                      (local.set $vc (v128.load32_splat (i32.add (local.get $crow) (i32.shl (local.get $j) (i32.const 2)))))
                      (local.set $vc1 (v128.load32_splat (i32.add (local.get $crow1) (i32.shl (local.get $j) (i32.const 2)))))
                      (local.set $xj (i32.add (i32.add (i32.load (i32.add (local.get $xs) (i32.shl (local.get $j) (i32.const 2))))
                        (local.get $rb)) (local.get $eb)))
                      (local.set $x (v128.load offset=0 (local.get $xj)))
                      (local.set $a0 (f32x4.add (local.get $a0) (f32x4.mul (local.get $vc) (local.get $x))))
                      (local.set $b0 (f32x4.add (local.get $b0) (f32x4.mul (local.get $vc1) (local.get $x))))
                      (local.set $x (v128.load offset=16 (local.get $xj)))
                      (local.set $a1 (f32x4.add (local.get $a1) (f32x4.mul (local.get $vc) (local.get $x))))
                      (local.set $b1 (f32x4.add (local.get $b1) (f32x4.mul (local.get $vc1) (local.get $x))))
                      (local.set $x (v128.load offset=32 (local.get $xj)))
                      (local.set $a2 (f32x4.add (local.get $a2) (f32x4.mul (local.get $vc) (local.get $x))))
                      (local.set $b2 (f32x4.add (local.get $b2) (f32x4.mul (local.get $vc1) (local.get $x))))
                      (local.set $x (v128.load offset=48 (local.get $xj)))
                      (local.set $a3 (f32x4.add (local.get $a3) (f32x4.mul (local.get $vc) (local.get $x))))
                      (local.set $b3 (f32x4.add (local.get $b3) (f32x4.mul (local.get $vc1) (local.get $x))))
                      (br_if $j16 (i32.lt_u (local.tee $j (i32.add (local.get $j) (i32.const 1))) (local.get $F))))
                    (if (local.get $gi)
                      (then
                    (v128.store offset=0 (i32.add (local.get $gi) (local.get $eb))
                      (f32x4.add (v128.load offset=0 (i32.add (local.get $gi) (local.get $eb))) (local.get $a0)))
                    (v128.store offset=16 (i32.add (local.get $gi) (local.get $eb))
                      (f32x4.add (v128.load offset=16 (i32.add (local.get $gi) (local.get $eb))) (local.get $a1)))
                    (v128.store offset=32 (i32.add (local.get $gi) (local.get $eb))
                      (f32x4.add (v128.load offset=32 (i32.add (local.get $gi) (local.get $eb))) (local.get $a2)))
                    (v128.store offset=48 (i32.add (local.get $gi) (local.get $eb))
                      (f32x4.add (v128.load offset=48 (i32.add (local.get $gi) (local.get $eb))) (local.get $a3)))
                      ))
                    (if (local.get $gi1)
                      (then
                    (v128.store offset=0 (i32.add (local.get $gi1) (local.get $eb))
                      (f32x4.add (v128.load offset=0 (i32.add (local.get $gi1) (local.get $eb))) (local.get $b0)))
                    (v128.store offset=16 (i32.add (local.get $gi1) (local.get $eb))
                      (f32x4.add (v128.load offset=16 (i32.add (local.get $gi1) (local.get $eb))) (local.get $b1)))
                    (v128.store offset=32 (i32.add (local.get $gi1) (local.get $eb))
                      (f32x4.add (v128.load offset=32 (i32.add (local.get $gi1) (local.get $eb))) (local.get $b2)))
                    (v128.store offset=48 (i32.add (local.get $gi1) (local.get $eb))
                      (f32x4.add (v128.load offset=48 (i32.add (local.get $gi1) (local.get $eb))) (local.get $b3)))
                      ))
                    (local.set $eb (i32.add (local.get $eb) (i32.const 64)))
                    (br $e16)))
                ;; then 4 at a time
                (block $e4_done
                  (loop $e4
                    (br_if $e4_done (i32.gt_u (i32.add (local.get $eb) (i32.const 16)) (local.get $Eb)))
                    (local.set $a0 (v128.const i32x4 0 0 0 0))
                    (local.set $b0 (v128.const i32x4 0 0 0 0))
                    (local.set $j (i32.const 0))
                    (loop $j4
                      (local.set $x (v128.load (i32.add (i32.add (i32.load (i32.add (local.get $xs) (i32.shl (local.get $j) (i32.const 2))))
                        (local.get $rb)) (local.get $eb))))
                      (local.set $a0 (f32x4.add (local.get $a0) (f32x4.mul
                        (v128.load32_splat (i32.add (local.get $crow) (i32.shl (local.get $j) (i32.const 2)))) (local.get $x))))
                      (local.set $b0 (f32x4.add (local.get $b0) (f32x4.mul
                        (v128.load32_splat (i32.add (local.get $crow1) (i32.shl (local.get $j) (i32.const 2)))) (local.get $x))))
                      (br_if $j4 (i32.lt_u (local.tee $j (i32.add (local.get $j) (i32.const 1))) (local.get $F))))
                    (if (local.get $gi)
                      (then (v128.store (i32.add (local.get $gi) (local.get $eb))
                        (f32x4.add (v128.load (i32.add (local.get $gi) (local.get $eb))) (local.get $a0)))))
                    (if (local.get $gi1)
                      (then (v128.store (i32.add (local.get $gi1) (local.get $eb))
                        (f32x4.add (v128.load (i32.add (local.get $gi1) (local.get $eb))) (local.get $b0)))))
                    (local.set $eb (i32.add (local.get $eb) (i32.const 16)))
                    (br $e4)))
                ;; then one at a time
                (block $e1_done
                  (loop $e1
                    (br_if $e1_done (i32.ge_u (local.get $eb) (local.get $Eb)))
                    (local.set $s (f32.const 0))
                    (local.set $s1 (f32.const 0))
                    (local.set $j (i32.const 0))
                    (loop $j1
                      (local.set $xv (f32.load (i32.add (i32.add (i32.load (i32.add (local.get $xs) (i32.shl (local.get $j) (i32.const 2))))
                        (local.get $rb)) (local.get $eb))))
                      (local.set $s (f32.add (local.get $s) (f32.mul
                        (f32.load (i32.add (local.get $crow) (i32.shl (local.get $j) (i32.const 2)))) (local.get $xv))))
                      (local.set $s1 (f32.add (local.get $s1) (f32.mul
                        (f32.load (i32.add (local.get $crow1) (i32.shl (local.get $j) (i32.const 2)))) (local.get $xv))))
                      (br_if $j1 (i32.lt_u (local.tee $j (i32.add (local.get $j) (i32.const 1))) (local.get $F))))
                    (if (local.get $gi)
                      (then (f32.store (i32.add (local.get $gi) (local.get $eb))
                        (f32.add (f32.load (i32.add (local.get $gi) (local.get $eb))) (local.get $s)))))
                    (if (local.get $gi1)
                      (then (f32.store (i32.add (local.get $gi1) (local.get $eb))
                        (f32.add (f32.load (i32.add (local.get $gi1) (local.get $eb))) (local.get $s1)))))
                    (local.set $eb (i32.add (local.get $eb) (i32.const 4)))
                    (br $e1)))))
            (local.set $i (i32.add (local.get $i) (i32.const 2)))
            (br $i_loop)))
        (local.set $b (i32.add (local.get $b) (i32.const 1)))
        (br $samples))))
)
