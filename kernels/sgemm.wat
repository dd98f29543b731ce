;; sgemm.wat — single-precision GEMM with SIMD128: C = α·op(A)·op(B) + β·C.
;;
;; Glossary: M, N, K the GEMM dims (C is M×N, the shared dim is K); MR×NR = 4×8 (5×8 in the
;; relaxed build) the register tile of C; KC, MC, NC the cache blocks of K, M and N; "panel"
;; a strip of MR rows of op(A) or NR columns of op(B), packed so that one k step reads
;; consecutive memory.
;;
;; The math: C[i][j] = α · Σ_k op(A)[i][k] · op(B)[k][j] + β · C[i][j] (+ bias[j]), where
;; op(X) is X or Xᵀ and the optional bias (N,) is added to every row (a Linear layer's bias:
;; saves writing it into C beforehand and reading it back); with relu the result is then
;; max(·, 0) (a Linear layer followed by a ReLU: saves a pass over C). With β = 0, C is
;; only written (NaN garbage in C does not propagate).
;;
;; The naive loop (src/kernels/ref.ts sgemm):
;;   for i < M: for j < N: acc = Σ_k op(A)[i][k]·op(B)[k][j]; C[i][j] = α·acc + β·C[i][j] (+ bias[j]),
;;                         then C[i][j] = max(C[i][j], 0) when relu
;;
;; The blocking (BLIS order; V8 gives wasm 15 vector registers and hoists a step's loads, so
;; the tile is 4×8: 8 accumulators + 2 B vectors + 4 broadcast A values + 1 product = 15,
;; no k unrolling; the relaxed build's 5×8 tile, see micro_5x8):
;;   for jc in N by NC:                 op(B) block (KC×NC = 512 KiB) stays in L2
;;     for pc in K by KC:
;;       pack op(B)[pc.., jc..] into NR-wide panels (k-major, zero-padded to NR)
;;       for ic in M by MC:
;;         pack op(A)[ic.., pc..] into MR-high panels (k-major, zero-padded to MR)
;;         for jr in NC by NR:          one B panel (KC×8 floats = 8 KiB) stays in L1
;;           for ir in MC by MR:
;;             MR×8 micro-kernel over kc steps; the first K block applies β and the bias,
;;             the others add; the last one applies the relu.
;; Packing makes all four transpose cases one micro-kernel, and the zero padding makes the
;; edge tiles compute like full ones (only their store is masked).
;;
;; Two modules are built from this file: `sgemm` as written, and `sgemm_relaxed`, where
;; kernels/build.ts turns each `acc + a·b` of the micro-kernels (f32x4.mul, then f32x4.add)
;; into one f32x4.relaxed_madd — a fused multiply-add on CPUs that have one — and takes the
;; relaxed form of the global $MR below (MR = 5: the 5×8 tile, whose 10 accumulators hide
;; more of the FMA's latency). src/kernels/wasm.ts picks `sgemm_relaxed` when the engine accepts relaxed
;; SIMD.
;; @variant relaxed_madd
;;
;; Calling convention (every address a byte address in the shared memory, every size and
;; leading dimension an element count; addresses need no alignment beyond 4 bytes):
;;   sgemm_f32(transA, transB, M, N, K, alpha, a, lda, b, ldb, beta, c, ldc, work, bias, relu)
;;     transA, transB  0 or 1; A is stored M×K (row stride lda), or K×M when transA;
;;                     B is stored K×N (row stride ldb), or N×K when transB
;;     c, ldc          C is M×N with row stride ldc
;;     work            sgemm_f32_work_bytes() bytes of scratch for the packed panels
;;     bias            address of N floats added to every row of C, or 0 for none
;;     relu            1: C ← max(C, 0) after everything else (NaN stays NaN), 0: no
;;   sgemm_f32_work_bytes() → bytes of work the caller provides (16-byte aligned is best)

(module
  (import "env" "memory" (memory 1 65536 shared))

  ;; Cache blocks (elements). Changing one only needs sgemm_f32_work_bytes to follow; MC
  ;; must be a multiple of every MR (4 and 5), so that an A block is whole panels.
  (global $KC i32 (i32.const 256))
  (global $MC i32 (i32.const 80))
  (global $NC i32 (i32.const 512))
  ;; The tile height: 4 (micro_4x8) as written, 5 (micro_5x8) in the relaxed build.
  (global $MR i32 (i32.const 4)) ;; @relaxed: (global $MR i32 (i32.const 5))

  ;; Bytes of work: packed B block (KC·NC floats), packed A block (MC·KC floats), one tile
  ;; of up to 5×8 floats.
  (func $work_bytes (export "sgemm_f32_work_bytes") (result i32)
    (i32.add
      (i32.mul (i32.mul (global.get $KC) (i32.add (global.get $NC) (global.get $MC))) (i32.const 4))
      (i32.const 160)))

  ;; pack(src, sk, sp, kc, n, W, dst): copy the kc×n block X[k][p] = f32 at src + k·sk + p·sp
  ;; (byte strides) into panels of W = 4, 5 or 8 consecutive p. The panel of p = q .. q+W-1
  ;; starts at dst + q·kc·4 and holds, for each k in turn, its W values; p ≥ n are zeros.
  (func $pack
    (param $src i32) (param $sk i32) (param $sp i32) (param $kc i32) (param $n i32)
    (param $W i32) (param $dst i32)
    (local $q i32)     ;; first p of the current panel
    (local $rem i32)   ;; p left from q on
    (local $d i32)     ;; destination pointer
    (local $p i32)     ;; source pointer
    (local $k i32)
    (local $w i32)
    (local $g i32)     ;; 4-wide group within a panel
    (local $rowb i32)  ;; bytes of one packed k step: W·4
    (local $r0 v128) (local $r1 v128) (local $r2 v128) (local $r3 v128)
    (local $t0 v128) (local $t1 v128) (local $t2 v128) (local $t3 v128)
    (local.set $rowb (i32.shl (local.get $W) (i32.const 2)))
    (block $done
      (loop $panels
        (br_if $done (i32.ge_u (local.get $q) (local.get $n)))
        (local.set $rem (i32.sub (local.get $n) (local.get $q)))
        ;; panel q/W starts at dst + (q/W)·W·kc·4 = dst + q·kc·4
        (local.set $d (i32.add (local.get $dst) (i32.shl (i32.mul (local.get $q) (local.get $kc)) (i32.const 2))))
        (block $panel_done
          (if (i32.ge_u (local.get $rem) (local.get $W))
            (then
              ;; Full panel, contiguous along p (A transposed, B not): one vector per 4 p.
              (if (i32.eq (local.get $sp) (i32.const 4))
                (then
                  (local.set $p (i32.add (local.get $src) (i32.shl (local.get $q) (i32.const 2))))
                  (local.set $k (local.get $kc))
                  (loop $k_vec
                    (v128.store (local.get $d) (v128.load (local.get $p)))
                    (if (i32.eq (local.get $W) (i32.const 8))
                      (then (v128.store offset=16 (local.get $d) (v128.load offset=16 (local.get $p)))))
                    (if (i32.eq (local.get $W) (i32.const 5))
                      (then (f32.store offset=16 (local.get $d) (f32.load offset=16 (local.get $p)))))
                    (local.set $p (i32.add (local.get $p) (local.get $sk)))
                    (local.set $d (i32.add (local.get $d) (local.get $rowb)))
                    (br_if $k_vec (local.tee $k (i32.sub (local.get $k) (i32.const 1)))))
                  (br $panel_done)))
              ;; Full panel, contiguous along k (A not transposed, B transposed): read 4 k
              ;; of 4 rows p, transpose the 4×4 block in registers, store 4 k steps.
              (if (i32.eq (local.get $sk) (i32.const 4))
                (then
                  (local.set $g (i32.const 0))
                  (loop $groups
                    ;; source row p = q + g, k = 0; destination column g of k step 0
                    (local.set $p (i32.add (local.get $src)
                      (i32.mul (i32.add (local.get $q) (local.get $g)) (local.get $sp))))
                    (local.set $d (i32.add
                      (i32.add (local.get $dst) (i32.shl (i32.mul (local.get $q) (local.get $kc)) (i32.const 2)))
                      (i32.shl (local.get $g) (i32.const 2))))
                    (local.set $k (local.get $kc))
                    (block $k4_done
                      (loop $k4
                        (br_if $k4_done (i32.lt_u (local.get $k) (i32.const 4)))
                        (local.set $r0 (v128.load (local.get $p)))
                        (local.set $r1 (v128.load (i32.add (local.get $p) (local.get $sp))))
                        (local.set $r2 (v128.load (i32.add (local.get $p) (i32.shl (local.get $sp) (i32.const 1)))))
                        (local.set $r3 (v128.load (i32.add (local.get $p) (i32.mul (local.get $sp) (i32.const 3)))))
                        ;; t0 = (r0[0] r1[0] r0[1] r1[1]), t1 = (r0[2] r1[2] r0[3] r1[3]), same for r2, r3
                        (local.set $t0 (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $r0) (local.get $r1)))
                        (local.set $t1 (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $r0) (local.get $r1)))
                        (local.set $t2 (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $r2) (local.get $r3)))
                        (local.set $t3 (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $r2) (local.get $r3)))
                        ;; column k of the block = (r0[k] r1[k] r2[k] r3[k])
                        (v128.store (local.get $d)
                          (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $t0) (local.get $t2)))
                        (v128.store (i32.add (local.get $d) (local.get $rowb))
                          (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $t0) (local.get $t2)))
                        (v128.store (i32.add (local.get $d) (i32.shl (local.get $rowb) (i32.const 1)))
                          (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $t1) (local.get $t3)))
                        (v128.store (i32.add (local.get $d) (i32.mul (local.get $rowb) (i32.const 3)))
                          (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $t1) (local.get $t3)))
                        (local.set $p (i32.add (local.get $p) (i32.const 16)))
                        (local.set $d (i32.add (local.get $d) (i32.shl (local.get $rowb) (i32.const 2))))
                        (local.set $k (i32.sub (local.get $k) (i32.const 4)))
                        (br $k4)))
                    ;; the last kc mod 4 steps, one value at a time
                    (block $k1_done
                      (loop $k1
                        (br_if $k1_done (i32.eqz (local.get $k)))
                        (f32.store (local.get $d) (f32.load (local.get $p)))
                        (f32.store offset=4 (local.get $d) (f32.load (i32.add (local.get $p) (local.get $sp))))
                        (f32.store offset=8 (local.get $d)
                          (f32.load (i32.add (local.get $p) (i32.shl (local.get $sp) (i32.const 1)))))
                        (f32.store offset=12 (local.get $d)
                          (f32.load (i32.add (local.get $p) (i32.mul (local.get $sp) (i32.const 3)))))
                        (local.set $p (i32.add (local.get $p) (i32.const 4)))
                        (local.set $d (i32.add (local.get $d) (local.get $rowb)))
                        (local.set $k (i32.sub (local.get $k) (i32.const 1)))
                        (br $k1)))
                    (br_if $groups (i32.le_u
                      (i32.add (local.tee $g (i32.add (local.get $g) (i32.const 4))) (i32.const 4)) (local.get $W))))
                  ;; rows past the last group of 4 (W = 5: row 4), one value per k step
                  (block $rest_done
                    (loop $rest
                      (br_if $rest_done (i32.ge_u (local.get $g) (local.get $W)))
                      (local.set $p (i32.add (local.get $src)
                        (i32.mul (i32.add (local.get $q) (local.get $g)) (local.get $sp))))
                      (local.set $d (i32.add
                        (i32.add (local.get $dst) (i32.shl (i32.mul (local.get $q) (local.get $kc)) (i32.const 2)))
                        (i32.shl (local.get $g) (i32.const 2))))
                      (local.set $k (local.get $kc))
                      (loop $kr
                        (f32.store (local.get $d) (f32.load (local.get $p)))
                        (local.set $p (i32.add (local.get $p) (i32.const 4)))
                        (local.set $d (i32.add (local.get $d) (local.get $rowb)))
                        (br_if $kr (local.tee $k (i32.sub (local.get $k) (i32.const 1)))))
                      (local.set $g (i32.add (local.get $g) (i32.const 1)))
                      (br $rest)))
                  (br $panel_done)))))
          ;; Any other panel (the last one, short of W, or unusual strides): element by
          ;; element, zeros past n so the micro-kernel can always compute a full tile.
          (local.set $k (i32.const 0))
          (loop $k_any
            (local.set $w (i32.const 0))
            (loop $w_any
              (f32.store (local.get $d)
                (if (result f32) (i32.lt_u (local.get $w) (local.get $rem))
                  (then (f32.load (i32.add (local.get $src)
                    (i32.add (i32.mul (local.get $k) (local.get $sk))
                             (i32.mul (i32.add (local.get $q) (local.get $w)) (local.get $sp))))))
                  (else (f32.const 0))))
              (local.set $d (i32.add (local.get $d) (i32.const 4)))
              (br_if $w_any (i32.lt_u (local.tee $w (i32.add (local.get $w) (i32.const 1))) (local.get $W))))
            (br_if $k_any (i32.lt_u (local.tee $k (i32.add (local.get $k) (i32.const 1))) (local.get $kc)))))
        (local.set $q (i32.add (local.get $q) (local.get $W)))
        (br $panels))))

  ;; micro_4x8(kc, ap, bp, c, ldcb, α, β, mr, nr, tile, bias, relu): the 4×8 tile
  ;;   acc[i][j] = Σ_{k<kc} Ap[k][i] · Bp[k][j]   (Ap: 4 floats per k, Bp: 8 floats per k)
  ;; then C[i][j] ← α·acc[i][j] + β·C[i][j] (+ bias[j] when bias ≠ 0, the address of the
  ;; tile's first column's bias; then max(·, 0) when relu ≠ 0) for i < mr, j < nr (C row
  ;; stride ldcb bytes).
  ;; Full tiles store vectors straight into C (a Linear layer's forward, β = 0 with a bias,
  ;; with the bias and the relu applied in the registers); edge tiles go through the tile
  ;; buffer, four columns at a time while four exist. No calls after the k loop: V8 would
  ;; spill the accumulators on every k step to keep them across a call.
  (func $micro_4x8
    (param $kc i32) (param $ap i32) (param $bp i32) (param $c i32) (param $ldcb i32)
    (param $alpha f32) (param $beta f32) (param $mr i32) (param $nr i32) (param $tile i32) (param $bias i32)
    (param $relu i32)
    (local $c00 v128) (local $c01 v128) (local $c10 v128) (local $c11 v128)
    (local $c20 v128) (local $c21 v128) (local $c30 v128) (local $c31 v128)
    (local $b0 v128) (local $b1 v128) (local $a v128)
    (local $valpha v128) (local $vbeta v128) (local $i i32) (local $j i32) (local $v f32) (local $cp i32) (local $c0 i32)
    ;; the k loop: one k step = 2 B vectors, 4 broadcast A values, 8 multiply-adds
    (loop $k
      (local.set $b0 (v128.load (local.get $bp)))
      (local.set $b1 (v128.load offset=16 (local.get $bp)))
      (local.set $a (v128.load32_splat (local.get $ap)))                 ;; op(A)[i0][k]
      (local.set $c00 (f32x4.add (local.get $c00) (f32x4.mul (local.get $a) (local.get $b0))))
      (local.set $c01 (f32x4.add (local.get $c01) (f32x4.mul (local.get $a) (local.get $b1))))
      (local.set $a (v128.load32_splat offset=4 (local.get $ap)))        ;; op(A)[i0+1][k]
      (local.set $c10 (f32x4.add (local.get $c10) (f32x4.mul (local.get $a) (local.get $b0))))
      (local.set $c11 (f32x4.add (local.get $c11) (f32x4.mul (local.get $a) (local.get $b1))))
      (local.set $a (v128.load32_splat offset=8 (local.get $ap)))        ;; op(A)[i0+2][k]
      (local.set $c20 (f32x4.add (local.get $c20) (f32x4.mul (local.get $a) (local.get $b0))))
      (local.set $c21 (f32x4.add (local.get $c21) (f32x4.mul (local.get $a) (local.get $b1))))
      (local.set $a (v128.load32_splat offset=12 (local.get $ap)))       ;; op(A)[i0+3][k]
      (local.set $c30 (f32x4.add (local.get $c30) (f32x4.mul (local.get $a) (local.get $b0))))
      (local.set $c31 (f32x4.add (local.get $c31) (f32x4.mul (local.get $a) (local.get $b1))))
      (local.set $ap (i32.add (local.get $ap) (i32.const 16)))
      (local.set $bp (i32.add (local.get $bp) (i32.const 32)))
      (br_if $k (local.tee $kc (i32.sub (local.get $kc) (i32.const 1)))))
    (local.set $c0 (local.get $c))
    (local.set $valpha (f32x4.splat (local.get $alpha)))
    (if (i32.and (i32.eq (local.get $mr) (i32.const 4)) (i32.eq (local.get $nr) (i32.const 8)))
      (then
        ;; full tile: row i of C at c + i·ldcb. Stored inline: a call here, with the
        ;; accumulators live across it, makes V8 spill them inside the k loop.
        (if (i32.and (f32.eq (local.get $beta) (f32.const 0)) (i32.ne (local.get $bias) (i32.const 0)))
          (then
            ;; a Linear layer's forward (β = 0 and a bias): C ← α·acc + bias, then max(·, 0) when
            ;; relu, in registers and one store per vector. The same operations in the same order
            ;; as the two passes below (which a K block after the first, or no bias, still takes),
            ;; so the same bits; it saves reading the tile back, which costs most when K is short.
            (local.set $b0 (v128.load (local.get $bias)))
            (local.set $b1 (v128.load offset=16 (local.get $bias)))
            (if (local.get $relu)
              (then
                (v128.store offset=0 (local.get $c)
                  (f32x4.max (f32x4.add (f32x4.mul (local.get $c00) (local.get $valpha)) (local.get $b0)) (v128.const i32x4 0 0 0 0)))
                (v128.store offset=16 (local.get $c)
                  (f32x4.max (f32x4.add (f32x4.mul (local.get $c01) (local.get $valpha)) (local.get $b1)) (v128.const i32x4 0 0 0 0)))
                (local.set $c (i32.add (local.get $c) (local.get $ldcb)))
                (v128.store offset=0 (local.get $c)
                  (f32x4.max (f32x4.add (f32x4.mul (local.get $c10) (local.get $valpha)) (local.get $b0)) (v128.const i32x4 0 0 0 0)))
                (v128.store offset=16 (local.get $c)
                  (f32x4.max (f32x4.add (f32x4.mul (local.get $c11) (local.get $valpha)) (local.get $b1)) (v128.const i32x4 0 0 0 0)))
                (local.set $c (i32.add (local.get $c) (local.get $ldcb)))
                (v128.store offset=0 (local.get $c)
                  (f32x4.max (f32x4.add (f32x4.mul (local.get $c20) (local.get $valpha)) (local.get $b0)) (v128.const i32x4 0 0 0 0)))
                (v128.store offset=16 (local.get $c)
                  (f32x4.max (f32x4.add (f32x4.mul (local.get $c21) (local.get $valpha)) (local.get $b1)) (v128.const i32x4 0 0 0 0)))
                (local.set $c (i32.add (local.get $c) (local.get $ldcb)))
                (v128.store offset=0 (local.get $c)
                  (f32x4.max (f32x4.add (f32x4.mul (local.get $c30) (local.get $valpha)) (local.get $b0)) (v128.const i32x4 0 0 0 0)))
                (v128.store offset=16 (local.get $c)
                  (f32x4.max (f32x4.add (f32x4.mul (local.get $c31) (local.get $valpha)) (local.get $b1)) (v128.const i32x4 0 0 0 0)))
                (return)))
            (v128.store offset=0 (local.get $c)
              (f32x4.add (f32x4.mul (local.get $c00) (local.get $valpha)) (local.get $b0)))
            (v128.store offset=16 (local.get $c)
              (f32x4.add (f32x4.mul (local.get $c01) (local.get $valpha)) (local.get $b1)))
            (local.set $c (i32.add (local.get $c) (local.get $ldcb)))
            (v128.store offset=0 (local.get $c)
              (f32x4.add (f32x4.mul (local.get $c10) (local.get $valpha)) (local.get $b0)))
            (v128.store offset=16 (local.get $c)
              (f32x4.add (f32x4.mul (local.get $c11) (local.get $valpha)) (local.get $b1)))
            (local.set $c (i32.add (local.get $c) (local.get $ldcb)))
            (v128.store offset=0 (local.get $c)
              (f32x4.add (f32x4.mul (local.get $c20) (local.get $valpha)) (local.get $b0)))
            (v128.store offset=16 (local.get $c)
              (f32x4.add (f32x4.mul (local.get $c21) (local.get $valpha)) (local.get $b1)))
            (local.set $c (i32.add (local.get $c) (local.get $ldcb)))
            (v128.store offset=0 (local.get $c)
              (f32x4.add (f32x4.mul (local.get $c30) (local.get $valpha)) (local.get $b0)))
            (v128.store offset=16 (local.get $c)
              (f32x4.add (f32x4.mul (local.get $c31) (local.get $valpha)) (local.get $b1)))
            (return)))
        (if (f32.eq (local.get $beta) (f32.const 0))
          (then
            ;; β = 0: C ← α·acc, C not read
            (v128.store offset=0 (local.get $c) (f32x4.mul (local.get $c00) (local.get $valpha)))
            (v128.store offset=16 (local.get $c) (f32x4.mul (local.get $c01) (local.get $valpha)))
            (local.set $c (i32.add (local.get $c) (local.get $ldcb)))
            (v128.store offset=0 (local.get $c) (f32x4.mul (local.get $c10) (local.get $valpha)))
            (v128.store offset=16 (local.get $c) (f32x4.mul (local.get $c11) (local.get $valpha)))
            (local.set $c (i32.add (local.get $c) (local.get $ldcb)))
            (v128.store offset=0 (local.get $c) (f32x4.mul (local.get $c20) (local.get $valpha)))
            (v128.store offset=16 (local.get $c) (f32x4.mul (local.get $c21) (local.get $valpha)))
            (local.set $c (i32.add (local.get $c) (local.get $ldcb)))
            (v128.store offset=0 (local.get $c) (f32x4.mul (local.get $c30) (local.get $valpha)))
            (v128.store offset=16 (local.get $c) (f32x4.mul (local.get $c31) (local.get $valpha))))
          (else
            ;; C ← α·acc + β·C
            (local.set $vbeta (f32x4.splat (local.get $beta)))
            (v128.store offset=0 (local.get $c) (f32x4.add (f32x4.mul (local.get $c00) (local.get $valpha))
              (f32x4.mul (v128.load offset=0 (local.get $c)) (local.get $vbeta))))
            (v128.store offset=16 (local.get $c) (f32x4.add (f32x4.mul (local.get $c01) (local.get $valpha))
              (f32x4.mul (v128.load offset=16 (local.get $c)) (local.get $vbeta))))
            (local.set $c (i32.add (local.get $c) (local.get $ldcb)))
            (v128.store offset=0 (local.get $c) (f32x4.add (f32x4.mul (local.get $c10) (local.get $valpha))
              (f32x4.mul (v128.load offset=0 (local.get $c)) (local.get $vbeta))))
            (v128.store offset=16 (local.get $c) (f32x4.add (f32x4.mul (local.get $c11) (local.get $valpha))
              (f32x4.mul (v128.load offset=16 (local.get $c)) (local.get $vbeta))))
            (local.set $c (i32.add (local.get $c) (local.get $ldcb)))
            (v128.store offset=0 (local.get $c) (f32x4.add (f32x4.mul (local.get $c20) (local.get $valpha))
              (f32x4.mul (v128.load offset=0 (local.get $c)) (local.get $vbeta))))
            (v128.store offset=16 (local.get $c) (f32x4.add (f32x4.mul (local.get $c21) (local.get $valpha))
              (f32x4.mul (v128.load offset=16 (local.get $c)) (local.get $vbeta))))
            (local.set $c (i32.add (local.get $c) (local.get $ldcb)))
            (v128.store offset=0 (local.get $c) (f32x4.add (f32x4.mul (local.get $c30) (local.get $valpha))
              (f32x4.mul (v128.load offset=0 (local.get $c)) (local.get $vbeta))))
            (v128.store offset=16 (local.get $c) (f32x4.add (f32x4.mul (local.get $c31) (local.get $valpha))
              (f32x4.mul (v128.load offset=16 (local.get $c)) (local.get $vbeta))))))
        ;; + bias[j], then max(·, 0) when relu: a second pass over the tile while it is in L1
        ;; (without a bias, + 0 changes nothing that the max keeps: −0 + 0 and −0 both give +0)
        (if (i32.or (local.get $bias) (local.get $relu))
          (then
            (if (local.get $bias)
              (then
                (local.set $b0 (v128.load (local.get $bias)))
                (local.set $b1 (v128.load offset=16 (local.get $bias))))
              (else
                (local.set $b0 (v128.const i32x4 0 0 0 0))
                (local.set $b1 (v128.const i32x4 0 0 0 0))))
            (local.set $i (i32.const 0))
            (loop $brows
              (local.set $cp (i32.add (local.get $c0) (i32.mul (local.get $i) (local.get $ldcb))))
              (local.set $c00 (f32x4.add (v128.load (local.get $cp)) (local.get $b0)))
              (local.set $c01 (f32x4.add (v128.load offset=16 (local.get $cp)) (local.get $b1)))
              (if (local.get $relu)
                (then
                  ;; f32x4.max keeps NaN, as relu does
                  (local.set $c00 (f32x4.max (local.get $c00) (v128.const i32x4 0 0 0 0)))
                  (local.set $c01 (f32x4.max (local.get $c01) (v128.const i32x4 0 0 0 0)))))
              (v128.store (local.get $cp) (local.get $c00))
              (v128.store offset=16 (local.get $cp) (local.get $c01))
              (br_if $brows (i32.lt_u (local.tee $i (i32.add (local.get $i) (i32.const 1))) (local.get $mr)))))))
      (else
        ;; edge tile: park the accumulators in the tile (row i at tile + 32·i), then store
        ;; only the mr×nr values that exist
        (v128.store offset=0 (local.get $tile) (local.get $c00))
        (v128.store offset=16 (local.get $tile) (local.get $c01))
        (v128.store offset=32 (local.get $tile) (local.get $c10))
        (v128.store offset=48 (local.get $tile) (local.get $c11))
        (v128.store offset=64 (local.get $tile) (local.get $c20))
        (v128.store offset=80 (local.get $tile) (local.get $c21))
        (v128.store offset=96 (local.get $tile) (local.get $c30))
        (v128.store offset=112 (local.get $tile) (local.get $c31))
        (local.set $i (i32.const 0))
        (loop $rows
          (local.set $j (i32.const 0))
          ;; four columns at a time while four exist (all of a row of 8: the edge rows of M),
          ;; the same operations lane by lane as the loop below, so the same bits
          (block $vec_done
            (loop $vec
              (br_if $vec_done (i32.gt_u (i32.add (local.get $j) (i32.const 4)) (local.get $nr)))
              (local.set $cp (i32.add (i32.add (local.get $c) (i32.mul (local.get $i) (local.get $ldcb)))
                                      (i32.shl (local.get $j) (i32.const 2))))
              (local.set $b0 (f32x4.mul
                (v128.load (i32.add (local.get $tile)
                  (i32.shl (i32.add (i32.shl (local.get $i) (i32.const 3)) (local.get $j)) (i32.const 2))))
                (local.get $valpha)))
              (if (f32.ne (local.get $beta) (f32.const 0))
                (then (local.set $b0 (f32x4.add (local.get $b0)
                  (f32x4.mul (f32x4.splat (local.get $beta)) (v128.load (local.get $cp)))))))
              (if (local.get $bias)
                (then (local.set $b0 (f32x4.add (local.get $b0)
                  (v128.load (i32.add (local.get $bias) (i32.shl (local.get $j) (i32.const 2))))))))
              (if (local.get $relu)
                (then (local.set $b0 (f32x4.max (local.get $b0) (v128.const i32x4 0 0 0 0)))))
              (v128.store (local.get $cp) (local.get $b0))
              (local.set $j (i32.add (local.get $j) (i32.const 4)))
              (br $vec)))
          ;; the last nr mod 4 columns one at a time
          (block $cols_done
            (loop $cols
              (br_if $cols_done (i32.ge_u (local.get $j) (local.get $nr)))
              (local.set $cp (i32.add (i32.add (local.get $c) (i32.mul (local.get $i) (local.get $ldcb)))
                                      (i32.shl (local.get $j) (i32.const 2))))
              ;; v = α·acc[i][j] (+ β·C[i][j])
              (local.set $v (f32.mul (local.get $alpha)
                (f32.load (i32.add (local.get $tile)
                  (i32.shl (i32.add (i32.shl (local.get $i) (i32.const 3)) (local.get $j)) (i32.const 2))))))
              (if (f32.ne (local.get $beta) (f32.const 0))
                (then (local.set $v (f32.add (local.get $v)
                  (f32.mul (local.get $beta) (f32.load (local.get $cp)))))))
              (if (local.get $bias)
                (then (local.set $v (f32.add (local.get $v)
                  (f32.load (i32.add (local.get $bias) (i32.shl (local.get $j) (i32.const 2))))))))
              (if (local.get $relu) (then (local.set $v (f32.max (local.get $v) (f32.const 0)))))
              (f32.store (local.get $cp) (local.get $v))
              (local.set $j (i32.add (local.get $j) (i32.const 1)))
              (br $cols)))
          (br_if $rows (i32.lt_u (local.tee $i (i32.add (local.get $i) (i32.const 1))) (local.get $mr)))))))

  ;; micro_5x8(kc, ap, bp, c, ldcb, α, β, mr, nr, tile, bias, relu): the 5×8 tile, as micro_4x8 with A
  ;; panels 5 high (5 floats per k). Its 10 accumulators are what hides the latency of a
  ;; fused multiply-add (8 leave it bound by the latency); to fit V8's 15 vector registers
  ;; (10 + 2 B + 3) the A values arrive as one vector of rows 0-3 and one broadcast of row 4,
  ;; and rows 0-3 are broadcast by shuffles, which V8 computes right before their use —
  ;; broadcast loads (v128.load32_splat) are all hoisted to the top of the loop body and would
  ;; need 5 registers. With separate multiplies and adds (one more register for the
  ;; product) this tile spills, so the plain build uses micro_4x8 and only the relaxed one
  ;; this (MR).
  (func $micro_5x8
    (param $kc i32) (param $ap i32) (param $bp i32) (param $c i32) (param $ldcb i32)
    (param $alpha f32) (param $beta f32) (param $mr i32) (param $nr i32) (param $tile i32) (param $bias i32)
    (param $relu i32)
    (local $c00 v128) (local $c01 v128) (local $c10 v128) (local $c11 v128)
    (local $c20 v128) (local $c21 v128) (local $c30 v128) (local $c31 v128)
    (local $c40 v128) (local $c41 v128)
    (local $b0 v128) (local $b1 v128) (local $va v128) (local $a4 v128) (local $a v128)
    (local $valpha v128) (local $vbeta v128) (local $i i32) (local $j i32) (local $v f32) (local $cp i32) (local $c0 i32)
    ;; the k loop: one k step = 2 B vectors, 5 A values, 10 multiply-adds
    (loop $k
      (local.set $b0 (v128.load (local.get $bp)))
      (local.set $b1 (v128.load offset=16 (local.get $bp)))
      (local.set $va (v128.load (local.get $ap)))                          ;; op(A)[i0 .. i0+3][k]
      (local.set $a (i8x16.shuffle 0 1 2 3 0 1 2 3 0 1 2 3 0 1 2 3 (local.get $va) (local.get $va)))
      (local.set $c00 (f32x4.add (local.get $c00) (f32x4.mul (local.get $a) (local.get $b0))))
      (local.set $c01 (f32x4.add (local.get $c01) (f32x4.mul (local.get $a) (local.get $b1))))
      (local.set $a (i8x16.shuffle 4 5 6 7 4 5 6 7 4 5 6 7 4 5 6 7 (local.get $va) (local.get $va)))
      (local.set $c10 (f32x4.add (local.get $c10) (f32x4.mul (local.get $a) (local.get $b0))))
      (local.set $c11 (f32x4.add (local.get $c11) (f32x4.mul (local.get $a) (local.get $b1))))
      (local.set $a (i8x16.shuffle 8 9 10 11 8 9 10 11 8 9 10 11 8 9 10 11 (local.get $va) (local.get $va)))
      (local.set $c20 (f32x4.add (local.get $c20) (f32x4.mul (local.get $a) (local.get $b0))))
      (local.set $c21 (f32x4.add (local.get $c21) (f32x4.mul (local.get $a) (local.get $b1))))
      (local.set $a (i8x16.shuffle 12 13 14 15 12 13 14 15 12 13 14 15 12 13 14 15 (local.get $va) (local.get $va)))
      (local.set $c30 (f32x4.add (local.get $c30) (f32x4.mul (local.get $a) (local.get $b0))))
      (local.set $c31 (f32x4.add (local.get $c31) (f32x4.mul (local.get $a) (local.get $b1))))
      (local.set $a4 (v128.load32_splat offset=16 (local.get $ap)))        ;; op(A)[i0+4][k]
      (local.set $c40 (f32x4.add (local.get $c40) (f32x4.mul (local.get $a4) (local.get $b0))))
      (local.set $c41 (f32x4.add (local.get $c41) (f32x4.mul (local.get $a4) (local.get $b1))))
      (local.set $ap (i32.add (local.get $ap) (i32.const 20)))
      (local.set $bp (i32.add (local.get $bp) (i32.const 32)))
      (br_if $k (local.tee $kc (i32.sub (local.get $kc) (i32.const 1)))))
    (local.set $c0 (local.get $c))
    (local.set $valpha (f32x4.splat (local.get $alpha)))
    (if (i32.and (i32.eq (local.get $mr) (i32.const 5)) (i32.eq (local.get $nr) (i32.const 8)))
      (then
        ;; full tile, stored inline (see micro_4x8)
        (if (i32.and (f32.eq (local.get $beta) (f32.const 0)) (i32.ne (local.get $bias) (i32.const 0)))
          (then
            ;; a Linear layer's forward (β = 0 and a bias): C ← α·acc + bias, then max(·, 0) when
            ;; relu, in registers and one store per vector. The same operations in the same order
            ;; as the two passes below (which a K block after the first, or no bias, still takes),
            ;; so the same bits; it saves reading the tile back, which costs most when K is short.
            (local.set $b0 (v128.load (local.get $bias)))
            (local.set $b1 (v128.load offset=16 (local.get $bias)))
            (if (local.get $relu)
              (then
                (v128.store offset=0 (local.get $c)
                  (f32x4.max (f32x4.add (f32x4.mul (local.get $c00) (local.get $valpha)) (local.get $b0)) (v128.const i32x4 0 0 0 0)))
                (v128.store offset=16 (local.get $c)
                  (f32x4.max (f32x4.add (f32x4.mul (local.get $c01) (local.get $valpha)) (local.get $b1)) (v128.const i32x4 0 0 0 0)))
                (local.set $c (i32.add (local.get $c) (local.get $ldcb)))
                (v128.store offset=0 (local.get $c)
                  (f32x4.max (f32x4.add (f32x4.mul (local.get $c10) (local.get $valpha)) (local.get $b0)) (v128.const i32x4 0 0 0 0)))
                (v128.store offset=16 (local.get $c)
                  (f32x4.max (f32x4.add (f32x4.mul (local.get $c11) (local.get $valpha)) (local.get $b1)) (v128.const i32x4 0 0 0 0)))
                (local.set $c (i32.add (local.get $c) (local.get $ldcb)))
                (v128.store offset=0 (local.get $c)
                  (f32x4.max (f32x4.add (f32x4.mul (local.get $c20) (local.get $valpha)) (local.get $b0)) (v128.const i32x4 0 0 0 0)))
                (v128.store offset=16 (local.get $c)
                  (f32x4.max (f32x4.add (f32x4.mul (local.get $c21) (local.get $valpha)) (local.get $b1)) (v128.const i32x4 0 0 0 0)))
                (local.set $c (i32.add (local.get $c) (local.get $ldcb)))
                (v128.store offset=0 (local.get $c)
                  (f32x4.max (f32x4.add (f32x4.mul (local.get $c30) (local.get $valpha)) (local.get $b0)) (v128.const i32x4 0 0 0 0)))
                (v128.store offset=16 (local.get $c)
                  (f32x4.max (f32x4.add (f32x4.mul (local.get $c31) (local.get $valpha)) (local.get $b1)) (v128.const i32x4 0 0 0 0)))
                (local.set $c (i32.add (local.get $c) (local.get $ldcb)))
                (v128.store offset=0 (local.get $c)
                  (f32x4.max (f32x4.add (f32x4.mul (local.get $c40) (local.get $valpha)) (local.get $b0)) (v128.const i32x4 0 0 0 0)))
                (v128.store offset=16 (local.get $c)
                  (f32x4.max (f32x4.add (f32x4.mul (local.get $c41) (local.get $valpha)) (local.get $b1)) (v128.const i32x4 0 0 0 0)))
                (return)))
            (v128.store offset=0 (local.get $c)
              (f32x4.add (f32x4.mul (local.get $c00) (local.get $valpha)) (local.get $b0)))
            (v128.store offset=16 (local.get $c)
              (f32x4.add (f32x4.mul (local.get $c01) (local.get $valpha)) (local.get $b1)))
            (local.set $c (i32.add (local.get $c) (local.get $ldcb)))
            (v128.store offset=0 (local.get $c)
              (f32x4.add (f32x4.mul (local.get $c10) (local.get $valpha)) (local.get $b0)))
            (v128.store offset=16 (local.get $c)
              (f32x4.add (f32x4.mul (local.get $c11) (local.get $valpha)) (local.get $b1)))
            (local.set $c (i32.add (local.get $c) (local.get $ldcb)))
            (v128.store offset=0 (local.get $c)
              (f32x4.add (f32x4.mul (local.get $c20) (local.get $valpha)) (local.get $b0)))
            (v128.store offset=16 (local.get $c)
              (f32x4.add (f32x4.mul (local.get $c21) (local.get $valpha)) (local.get $b1)))
            (local.set $c (i32.add (local.get $c) (local.get $ldcb)))
            (v128.store offset=0 (local.get $c)
              (f32x4.add (f32x4.mul (local.get $c30) (local.get $valpha)) (local.get $b0)))
            (v128.store offset=16 (local.get $c)
              (f32x4.add (f32x4.mul (local.get $c31) (local.get $valpha)) (local.get $b1)))
            (local.set $c (i32.add (local.get $c) (local.get $ldcb)))
            (v128.store offset=0 (local.get $c)
              (f32x4.add (f32x4.mul (local.get $c40) (local.get $valpha)) (local.get $b0)))
            (v128.store offset=16 (local.get $c)
              (f32x4.add (f32x4.mul (local.get $c41) (local.get $valpha)) (local.get $b1)))
            (return)))
        (if (f32.eq (local.get $beta) (f32.const 0))
          (then
            (v128.store offset=0 (local.get $c) (f32x4.mul (local.get $c00) (local.get $valpha)))
            (v128.store offset=16 (local.get $c) (f32x4.mul (local.get $c01) (local.get $valpha)))
            (local.set $c (i32.add (local.get $c) (local.get $ldcb)))
            (v128.store offset=0 (local.get $c) (f32x4.mul (local.get $c10) (local.get $valpha)))
            (v128.store offset=16 (local.get $c) (f32x4.mul (local.get $c11) (local.get $valpha)))
            (local.set $c (i32.add (local.get $c) (local.get $ldcb)))
            (v128.store offset=0 (local.get $c) (f32x4.mul (local.get $c20) (local.get $valpha)))
            (v128.store offset=16 (local.get $c) (f32x4.mul (local.get $c21) (local.get $valpha)))
            (local.set $c (i32.add (local.get $c) (local.get $ldcb)))
            (v128.store offset=0 (local.get $c) (f32x4.mul (local.get $c30) (local.get $valpha)))
            (v128.store offset=16 (local.get $c) (f32x4.mul (local.get $c31) (local.get $valpha)))
            (local.set $c (i32.add (local.get $c) (local.get $ldcb)))
            (v128.store offset=0 (local.get $c) (f32x4.mul (local.get $c40) (local.get $valpha)))
            (v128.store offset=16 (local.get $c) (f32x4.mul (local.get $c41) (local.get $valpha))))
          (else
            (local.set $vbeta (f32x4.splat (local.get $beta)))
            (v128.store offset=0 (local.get $c) (f32x4.add (f32x4.mul (local.get $c00) (local.get $valpha))
              (f32x4.mul (v128.load offset=0 (local.get $c)) (local.get $vbeta))))
            (v128.store offset=16 (local.get $c) (f32x4.add (f32x4.mul (local.get $c01) (local.get $valpha))
              (f32x4.mul (v128.load offset=16 (local.get $c)) (local.get $vbeta))))
            (local.set $c (i32.add (local.get $c) (local.get $ldcb)))
            (v128.store offset=0 (local.get $c) (f32x4.add (f32x4.mul (local.get $c10) (local.get $valpha))
              (f32x4.mul (v128.load offset=0 (local.get $c)) (local.get $vbeta))))
            (v128.store offset=16 (local.get $c) (f32x4.add (f32x4.mul (local.get $c11) (local.get $valpha))
              (f32x4.mul (v128.load offset=16 (local.get $c)) (local.get $vbeta))))
            (local.set $c (i32.add (local.get $c) (local.get $ldcb)))
            (v128.store offset=0 (local.get $c) (f32x4.add (f32x4.mul (local.get $c20) (local.get $valpha))
              (f32x4.mul (v128.load offset=0 (local.get $c)) (local.get $vbeta))))
            (v128.store offset=16 (local.get $c) (f32x4.add (f32x4.mul (local.get $c21) (local.get $valpha))
              (f32x4.mul (v128.load offset=16 (local.get $c)) (local.get $vbeta))))
            (local.set $c (i32.add (local.get $c) (local.get $ldcb)))
            (v128.store offset=0 (local.get $c) (f32x4.add (f32x4.mul (local.get $c30) (local.get $valpha))
              (f32x4.mul (v128.load offset=0 (local.get $c)) (local.get $vbeta))))
            (v128.store offset=16 (local.get $c) (f32x4.add (f32x4.mul (local.get $c31) (local.get $valpha))
              (f32x4.mul (v128.load offset=16 (local.get $c)) (local.get $vbeta))))
            (local.set $c (i32.add (local.get $c) (local.get $ldcb)))
            (v128.store offset=0 (local.get $c) (f32x4.add (f32x4.mul (local.get $c40) (local.get $valpha))
              (f32x4.mul (v128.load offset=0 (local.get $c)) (local.get $vbeta))))
            (v128.store offset=16 (local.get $c) (f32x4.add (f32x4.mul (local.get $c41) (local.get $valpha))
              (f32x4.mul (v128.load offset=16 (local.get $c)) (local.get $vbeta))))))
        ;; + bias[j], then max(·, 0) when relu: a second pass over the tile while it is in L1
        ;; (without a bias, + 0 changes nothing that the max keeps: −0 + 0 and −0 both give +0)
        (if (i32.or (local.get $bias) (local.get $relu))
          (then
            (if (local.get $bias)
              (then
                (local.set $b0 (v128.load (local.get $bias)))
                (local.set $b1 (v128.load offset=16 (local.get $bias))))
              (else
                (local.set $b0 (v128.const i32x4 0 0 0 0))
                (local.set $b1 (v128.const i32x4 0 0 0 0))))
            (local.set $i (i32.const 0))
            (loop $brows
              (local.set $cp (i32.add (local.get $c0) (i32.mul (local.get $i) (local.get $ldcb))))
              (local.set $c00 (f32x4.add (v128.load (local.get $cp)) (local.get $b0)))
              (local.set $c01 (f32x4.add (v128.load offset=16 (local.get $cp)) (local.get $b1)))
              (if (local.get $relu)
                (then
                  ;; f32x4.max keeps NaN, as relu does
                  (local.set $c00 (f32x4.max (local.get $c00) (v128.const i32x4 0 0 0 0)))
                  (local.set $c01 (f32x4.max (local.get $c01) (v128.const i32x4 0 0 0 0)))))
              (v128.store (local.get $cp) (local.get $c00))
              (v128.store offset=16 (local.get $cp) (local.get $c01))
              (br_if $brows (i32.lt_u (local.tee $i (i32.add (local.get $i) (i32.const 1))) (local.get $mr)))))))
      (else
        ;; edge tile: park the accumulators in the tile (row i at tile + 32·i), then store
        ;; only the mr×nr values that exist
        (v128.store offset=0 (local.get $tile) (local.get $c00))
        (v128.store offset=16 (local.get $tile) (local.get $c01))
        (v128.store offset=32 (local.get $tile) (local.get $c10))
        (v128.store offset=48 (local.get $tile) (local.get $c11))
        (v128.store offset=64 (local.get $tile) (local.get $c20))
        (v128.store offset=80 (local.get $tile) (local.get $c21))
        (v128.store offset=96 (local.get $tile) (local.get $c30))
        (v128.store offset=112 (local.get $tile) (local.get $c31))
        (v128.store offset=128 (local.get $tile) (local.get $c40))
        (v128.store offset=144 (local.get $tile) (local.get $c41))
        (local.set $i (i32.const 0))
        (loop $rows
          (local.set $j (i32.const 0))
          ;; four columns at a time while four exist (all of a row of 8: the edge rows of M),
          ;; the same operations lane by lane as the loop below, so the same bits
          (block $vec_done
            (loop $vec
              (br_if $vec_done (i32.gt_u (i32.add (local.get $j) (i32.const 4)) (local.get $nr)))
              (local.set $cp (i32.add (i32.add (local.get $c) (i32.mul (local.get $i) (local.get $ldcb)))
                                      (i32.shl (local.get $j) (i32.const 2))))
              (local.set $b0 (f32x4.mul
                (v128.load (i32.add (local.get $tile)
                  (i32.shl (i32.add (i32.shl (local.get $i) (i32.const 3)) (local.get $j)) (i32.const 2))))
                (local.get $valpha)))
              (if (f32.ne (local.get $beta) (f32.const 0))
                (then (local.set $b0 (f32x4.add (local.get $b0)
                  (f32x4.mul (f32x4.splat (local.get $beta)) (v128.load (local.get $cp)))))))
              (if (local.get $bias)
                (then (local.set $b0 (f32x4.add (local.get $b0)
                  (v128.load (i32.add (local.get $bias) (i32.shl (local.get $j) (i32.const 2))))))))
              (if (local.get $relu)
                (then (local.set $b0 (f32x4.max (local.get $b0) (v128.const i32x4 0 0 0 0)))))
              (v128.store (local.get $cp) (local.get $b0))
              (local.set $j (i32.add (local.get $j) (i32.const 4)))
              (br $vec)))
          ;; the last nr mod 4 columns one at a time
          (block $cols_done
            (loop $cols
              (br_if $cols_done (i32.ge_u (local.get $j) (local.get $nr)))
              (local.set $cp (i32.add (i32.add (local.get $c) (i32.mul (local.get $i) (local.get $ldcb)))
                                      (i32.shl (local.get $j) (i32.const 2))))
              ;; v = α·acc[i][j] (+ β·C[i][j])
              (local.set $v (f32.mul (local.get $alpha)
                (f32.load (i32.add (local.get $tile)
                  (i32.shl (i32.add (i32.shl (local.get $i) (i32.const 3)) (local.get $j)) (i32.const 2))))))
              (if (f32.ne (local.get $beta) (f32.const 0))
                (then (local.set $v (f32.add (local.get $v)
                  (f32.mul (local.get $beta) (f32.load (local.get $cp)))))))
              (if (local.get $bias)
                (then (local.set $v (f32.add (local.get $v)
                  (f32.load (i32.add (local.get $bias) (i32.shl (local.get $j) (i32.const 2))))))))
              (if (local.get $relu) (then (local.set $v (f32.max (local.get $v) (f32.const 0)))))
              (f32.store (local.get $cp) (local.get $v))
              (local.set $j (i32.add (local.get $j) (i32.const 1)))
              (br $cols)))
          (br_if $rows (i32.lt_u (local.tee $i (i32.add (local.get $i) (i32.const 1))) (local.get $mr)))))))

  (func (export "sgemm_f32")
    (param $transA i32) (param $transB i32) (param $M i32) (param $N i32) (param $K i32)
    (param $alpha f32) (param $a i32) (param $lda i32) (param $b i32) (param $ldb i32)
    (param $beta f32) (param $c i32) (param $ldc i32) (param $work i32) (param $bias i32) (param $relu i32)
    (local $ask i32) (local $asp i32)   ;; byte strides of op(A) along k and along i
    (local $bsk i32) (local $bsp i32)   ;; byte strides of op(B) along k and along j
    (local $ldcb i32)
    (local $jc i32) (local $pc i32) (local $ic i32) (local $jr i32) (local $ir i32)
    (local $nc i32) (local $kc i32) (local $mc i32)
    (local $betaK f32)                  ;; β for the first K block, 1 for the later ones
    (local $biasK i32)                  ;; bias for the first K block, none (0) for the later ones
    (local $reluK i32)                  ;; relu for the last K block, 0 for the earlier ones
    (local $bpack i32) (local $apack i32) (local $tile i32)
    (local $i i32) (local $j i32) (local $cp i32) (local $v f32)
    (if (i32.or (i32.eqz (local.get $M)) (i32.eqz (local.get $N))) (then (return)))
    (local.set $ldcb (i32.shl (local.get $ldc) (i32.const 2)))
    ;; K = 0: op(A)·op(B) is all zeros, so C ← α·0 + β·C (C not read when β = 0)
    (if (i32.eqz (local.get $K))
      (then
        (loop $rows
          (local.set $j (i32.const 0))
          (loop $cols
            (local.set $cp (i32.add (i32.add (local.get $c) (i32.mul (local.get $i) (local.get $ldcb)))
                                    (i32.shl (local.get $j) (i32.const 2))))
            (local.set $v (f32.mul (local.get $alpha) (f32.const 0)))
            (if (f32.ne (local.get $beta) (f32.const 0))
              (then (local.set $v (f32.add (local.get $v) (f32.mul (local.get $beta) (f32.load (local.get $cp)))))))
            (if (local.get $bias)
              (then (local.set $v (f32.add (local.get $v) (f32.load (i32.add (local.get $bias) (i32.shl (local.get $j) (i32.const 2))))))))
            (if (local.get $relu) (then (local.set $v (f32.max (local.get $v) (f32.const 0)))))
            (f32.store (local.get $cp) (local.get $v))
            (br_if $cols (i32.lt_u (local.tee $j (i32.add (local.get $j) (i32.const 1))) (local.get $N))))
          (br_if $rows (i32.lt_u (local.tee $i (i32.add (local.get $i) (i32.const 1))) (local.get $M))))
        (return)))
    ;; op(A)[i][k] is at a + i·asp + k·ask; op(B)[k][j] at b + k·bsk + j·bsp
    (if (local.get $transA)
      (then (local.set $ask (i32.shl (local.get $lda) (i32.const 2))) (local.set $asp (i32.const 4)))
      (else (local.set $ask (i32.const 4)) (local.set $asp (i32.shl (local.get $lda) (i32.const 2)))))
    (if (local.get $transB)
      (then (local.set $bsk (i32.const 4)) (local.set $bsp (i32.shl (local.get $ldb) (i32.const 2))))
      (else (local.set $bsk (i32.shl (local.get $ldb) (i32.const 2))) (local.set $bsp (i32.const 4))))
    ;; work layout: packed B block, packed A block, tile
    (local.set $bpack (local.get $work))
    (local.set $apack (i32.add (local.get $bpack) (i32.shl (i32.mul (global.get $KC) (global.get $NC)) (i32.const 2))))
    (local.set $tile (i32.add (local.get $apack) (i32.shl (i32.mul (global.get $MC) (global.get $KC)) (i32.const 2))))
    (loop $jc_loop
      (local.set $nc (i32.sub (local.get $N) (local.get $jc)))
      (if (i32.gt_u (local.get $nc) (global.get $NC)) (then (local.set $nc (global.get $NC))))
      (local.set $pc (i32.const 0))
      (loop $pc_loop
        (local.set $kc (i32.sub (local.get $K) (local.get $pc)))
        (if (i32.gt_u (local.get $kc) (global.get $KC)) (then (local.set $kc (global.get $KC))))
        (local.set $betaK (if (result f32) (i32.eqz (local.get $pc))
          (then (local.get $beta)) (else (f32.const 1))))
        (local.set $biasK (select (local.get $bias) (i32.const 0) (i32.eqz (local.get $pc))))
        (local.set $reluK (select (local.get $relu) (i32.const 0)
          (i32.ge_u (i32.add (local.get $pc) (local.get $kc)) (local.get $K))))
        ;; pack op(B)[pc .. pc+kc][jc .. jc+nc] into 8-wide panels
        (call $pack
          (i32.add (local.get $b) (i32.add (i32.mul (local.get $pc) (local.get $bsk)) (i32.mul (local.get $jc) (local.get $bsp))))
          (local.get $bsk) (local.get $bsp) (local.get $kc) (local.get $nc) (i32.const 8) (local.get $bpack))
        (local.set $ic (i32.const 0))
        (loop $ic_loop
          (local.set $mc (i32.sub (local.get $M) (local.get $ic)))
          (if (i32.gt_u (local.get $mc) (global.get $MC)) (then (local.set $mc (global.get $MC))))
          ;; pack op(A)[ic .. ic+mc][pc .. pc+kc] into 4-high panels
          (call $pack
            (i32.add (local.get $a) (i32.add (i32.mul (local.get $pc) (local.get $ask)) (i32.mul (local.get $ic) (local.get $asp))))
            (local.get $ask) (local.get $asp) (local.get $kc) (local.get $mc) (global.get $MR) (local.get $apack))
          (local.set $jr (i32.const 0))
          (loop $jr_loop
            (local.set $ir (i32.const 0))
            (loop $ir_loop
              ;; tile C[ic+ir ..][jc+jr ..] from the A panel of row ir and B panel jr/8
              (if (i32.eq (global.get $MR) (i32.const 5))
                (then
                  (call $micro_5x8
                    (local.get $kc)
                    (i32.add (local.get $apack) (i32.shl (i32.mul (local.get $ir) (local.get $kc)) (i32.const 2)))
                    (i32.add (local.get $bpack) (i32.shl (i32.mul (local.get $jr) (local.get $kc)) (i32.const 2)))
                    (i32.add (local.get $c) (i32.shl
                      (i32.add (i32.mul (i32.add (local.get $ic) (local.get $ir)) (local.get $ldc))
                               (i32.add (local.get $jc) (local.get $jr)))
                      (i32.const 2)))
                    (local.get $ldcb) (local.get $alpha) (local.get $betaK)
                    (select (i32.sub (local.get $mc) (local.get $ir)) (i32.const 5)
                      (i32.lt_u (i32.sub (local.get $mc) (local.get $ir)) (i32.const 5)))
                    (select (i32.sub (local.get $nc) (local.get $jr)) (i32.const 8)
                      (i32.lt_u (i32.sub (local.get $nc) (local.get $jr)) (i32.const 8)))
                    (local.get $tile)
                    (select (i32.add (local.get $biasK) (i32.shl (i32.add (local.get $jc) (local.get $jr)) (i32.const 2)))
                      (i32.const 0) (local.get $biasK))
                    (local.get $reluK)))
                (else
                  (call $micro_4x8
                    (local.get $kc)
                    (i32.add (local.get $apack) (i32.shl (i32.mul (local.get $ir) (local.get $kc)) (i32.const 2)))
                    (i32.add (local.get $bpack) (i32.shl (i32.mul (local.get $jr) (local.get $kc)) (i32.const 2)))
                    (i32.add (local.get $c) (i32.shl
                      (i32.add (i32.mul (i32.add (local.get $ic) (local.get $ir)) (local.get $ldc))
                               (i32.add (local.get $jc) (local.get $jr)))
                      (i32.const 2)))
                    (local.get $ldcb) (local.get $alpha) (local.get $betaK)
                    (select (i32.sub (local.get $mc) (local.get $ir)) (i32.const 4)
                      (i32.lt_u (i32.sub (local.get $mc) (local.get $ir)) (i32.const 4)))
                    (select (i32.sub (local.get $nc) (local.get $jr)) (i32.const 8)
                      (i32.lt_u (i32.sub (local.get $nc) (local.get $jr)) (i32.const 8)))
                    (local.get $tile)
                    (select (i32.add (local.get $biasK) (i32.shl (i32.add (local.get $jc) (local.get $jr)) (i32.const 2)))
                      (i32.const 0) (local.get $biasK))
                    (local.get $reluK))))
              (br_if $ir_loop (i32.lt_u (local.tee $ir (i32.add (local.get $ir) (global.get $MR))) (local.get $mc))))
            (br_if $jr_loop (i32.lt_u (local.tee $jr (i32.add (local.get $jr) (i32.const 8))) (local.get $nc))))
          (br_if $ic_loop (i32.lt_u (local.tee $ic (i32.add (local.get $ic) (global.get $MC))) (local.get $M))))
        (br_if $pc_loop (i32.lt_u (local.tee $pc (i32.add (local.get $pc) (global.get $KC))) (local.get $K))))
      (br_if $jc_loop (i32.lt_u (local.tee $jc (i32.add (local.get $jc) (global.get $NC))) (local.get $N)))))
)
