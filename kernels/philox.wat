;; philox.wat — uniform initial values from Philox-4x32-10 streams (Salmon et al., "Parallel
;; random numbers: as easy as 1, 2, 3", SC 2011), the generator of DLRM's initial tables
;; (src/dlrm/init.ts): element i of the stream with key (k0, k1) is word i mod 4 of the
;; Philox block at counter (floor(i / 4) as a 64-bit number, 0, 0); its top 24 bits make
;; u in [0, 1), and the value is lo + (hi - lo) · u.
;;
;; One round, on words (x0, x1, x2, x3) with round key (k0 + r·W0, k1 + r·W1):
;;   p0 = M0 · x0, p1 = M1 · x2 (64-bit products)
;;   (x0, x1, x2, x3) = (hi(p1) ^ x1 ^ key0, lo(p1), hi(p0) ^ x3 ^ key1, lo(p0))
;; with M0 = 0xD2511F53, M1 = 0xCD9E8D57, W0 = 0x9E3779B9, W1 = 0xBB67AE85.
;;
;; The naive loop it replaces (src/kernels/ref.ts, philox_uniform):
;;   for j in 0 .. n: i = first + j; block = philox(i / 4);
;;     out[(j / width) · ld + j % width] = lo + (hi - lo) · (block[i % 4] >> 8) / 2^24
;; JavaScript has no 64-bit multiply, so the reference builds each product's high half from
;; float64 pieces; here it is one i64.mul. The value is computed in f64 in the reference's
;; order and rounded once by the f32 store (f32.demote_f64), so the two agree bit for bit.
;; A block gives four consecutive elements: the loop computes a block, then stores the words
;; of it that fall in [first, first + n).
;;
;; The n elements go to out in rows of `width` values whose starts are `ld` values apart, so
;; a table's weights are drawn straight into records that hold more than the weights (the
;; rows on disk, src/dlrm/store/: a row's weights and then its optimizer state); width = ld = n
;; is one run.
;;
;; Calling convention: philox_uniform_f32(n, width, ld, out, first, k0, k1, lo, hi): n
;; elements to out (a byte address in the shared memory) in rows of width (> 0) every ld
;; (>= width) elements, first the stream position of out[0] (f64, an integer below 2^53), k0
;; and k1 the key words (i32, read as unsigned), lo and hi f64.

(module
  (import "env" "memory" (memory 1 65536 shared))

  (func (export "philox_uniform_f32") (param $n i32) (param $width i32) (param $ld i32) (param $out i32) (param $first f64) (param $k0 i32) (param $k1 i32) (param $lo f64) (param $hi f64)
    (local $i i64) (local $end i64) (local $b i64) (local $w i32)
    (local $x0 i32) (local $x1 i32) (local $x2 i32) (local $x3 i32)
    (local $key0 i32) (local $key1 i32) (local $r i32)
    (local $p0 i64) (local $p1 i64) (local $word i32) (local $span f64)
    (local $col i32) (local $gap i32)
    (local.set $span (f64.sub (local.get $hi) (local.get $lo)))
    ;; bytes from a row's end to the next row's start
    (local.set $gap (i32.shl (i32.sub (local.get $ld) (local.get $width)) (i32.const 2)))
    (local.set $i (i64.trunc_f64_u (local.get $first)))
    (local.set $end (i64.add (local.get $i) (i64.extend_i32_u (local.get $n))))
    (block $done
      (loop $blocks
        (br_if $done (i64.ge_u (local.get $i) (local.get $end)))
        ;; the block of element i: counter (b mod 2^32, b / 2^32, 0, 0)
        (local.set $b (i64.shr_u (local.get $i) (i64.const 2)))
        (local.set $x0 (i32.wrap_i64 (local.get $b)))
        (local.set $x1 (i32.wrap_i64 (i64.shr_u (local.get $b) (i64.const 32))))
        (local.set $x2 (i32.const 0))
        (local.set $x3 (i32.const 0))
        (local.set $key0 (local.get $k0))
        (local.set $key1 (local.get $k1))
        (local.set $r (i32.const 0))
        (loop $rounds
          (local.set $p0 (i64.mul (i64.extend_i32_u (local.get $x0)) (i64.const 0xD2511F53)))
          (local.set $p1 (i64.mul (i64.extend_i32_u (local.get $x2)) (i64.const 0xCD9E8D57)))
          (local.set $x0 (i32.xor (i32.xor (i32.wrap_i64 (i64.shr_u (local.get $p1) (i64.const 32))) (local.get $x1)) (local.get $key0)))
          (local.set $x1 (i32.wrap_i64 (local.get $p1)))
          (local.set $x2 (i32.xor (i32.xor (i32.wrap_i64 (i64.shr_u (local.get $p0) (i64.const 32))) (local.get $x3)) (local.get $key1)))
          (local.set $x3 (i32.wrap_i64 (local.get $p0)))
          (local.set $key0 (i32.add (local.get $key0) (i32.const 0x9E3779B9)))
          (local.set $key1 (i32.add (local.get $key1) (i32.const 0xBB67AE85)))
          (local.set $r (i32.add (local.get $r) (i32.const 1)))
          (br_if $rounds (i32.lt_u (local.get $r) (i32.const 10))))
        ;; the words of this block from element i's on, while inside [first, first + n)
        (local.set $w (i32.wrap_i64 (i64.and (local.get $i) (i64.const 3))))
        (loop $words
          (local.set $word
            (select (local.get $x0)
              (select (local.get $x1) (select (local.get $x2) (local.get $x3) (i32.eq (local.get $w) (i32.const 2))) (i32.eq (local.get $w) (i32.const 1)))
              (i32.eqz (local.get $w))))
          (f32.store (local.get $out)
            (f32.demote_f64
              (f64.add (local.get $lo)
                (f64.div (f64.mul (local.get $span) (f64.convert_i32_u (i32.shr_u (local.get $word) (i32.const 8)))) (f64.const 16777216)))))
          (local.set $out (i32.add (local.get $out) (i32.const 4)))
          (local.set $col (i32.add (local.get $col) (i32.const 1)))
          (if (i32.eq (local.get $col) (local.get $width))
            (then
              (local.set $col (i32.const 0))
              (local.set $out (i32.add (local.get $out) (local.get $gap)))))
          (local.set $i (i64.add (local.get $i) (i64.const 1)))
          (local.set $w (i32.add (local.get $w) (i32.const 1)))
          (br_if $words (i32.and (i32.lt_u (local.get $w) (i32.const 4)) (i64.lt_u (local.get $i) (local.get $end)))))
        (br $blocks)))))
