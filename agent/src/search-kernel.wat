;; Byte kernels for the literal log search (agent/src/search-kernel.ts), in WebAssembly 128-bit SIMD.
;; Source of agent/src/search-kernel.wasm.ts: regenerate with `node scripts/gen-search-kernel.mjs`
;; (test/agent/search-kernel.test.ts fails when the committed bytes are stale).
;;
;; Every function works on byte ranges of this module's memory given as (pointer, length); none
;; reads or writes outside its ranges (SIMD loops stop where a 16-byte load would pass the end and
;; finish byte by byte), so a range may end at the end of memory. No state is kept between calls.
(module
  (memory (export "memory") 1)

  ;; Number of 0x0a bytes in [p, p + len).
  ;; Each lane of $acc counts the newlines it saw, 4 per 64-byte step; it is widened into $tot
  ;; after at most 63 steps (252 < 256), before a lane could wrap.
  (func (export "count_nl") (param $p i32) (param $len i32) (result i32)
    (local $end i32) (local $stop i32) (local $acc v128) (local $tot v128) (local $nl v128) (local $n i32)
    (local.set $nl (i8x16.splat (i32.const 10)))
    (local.set $end (i32.add (local.get $p) (local.get $len)))
    (block $wide_done
      (loop $wide
        (br_if $wide_done (i32.lt_u (i32.sub (local.get $end) (local.get $p)) (i32.const 64)))
        ;; $stop: the last step start of this round, at most 62 steps on and at most end - 64.
        (local.set $stop (i32.add (local.get $p) (i32.const 3968)))
        (if (i32.gt_u (local.get $stop) (i32.sub (local.get $end) (i32.const 64)))
          (then (local.set $stop (i32.sub (local.get $end) (i32.const 64)))))
        (local.set $acc (v128.const i64x2 0 0))
        (loop $step
          (local.set $acc (i8x16.sub (local.get $acc) (i8x16.eq (v128.load (local.get $p)) (local.get $nl))))
          (local.set $acc (i8x16.sub (local.get $acc) (i8x16.eq (v128.load offset=16 (local.get $p)) (local.get $nl))))
          (local.set $acc (i8x16.sub (local.get $acc) (i8x16.eq (v128.load offset=32 (local.get $p)) (local.get $nl))))
          (local.set $acc (i8x16.sub (local.get $acc) (i8x16.eq (v128.load offset=48 (local.get $p)) (local.get $nl))))
          (local.set $p (i32.add (local.get $p) (i32.const 64)))
          (br_if $step (i32.le_u (local.get $p) (local.get $stop))))
        (local.set $tot (i32x4.add (local.get $tot)
          (i32x4.extadd_pairwise_i16x8_u (i16x8.extadd_pairwise_i8x16_u (local.get $acc)))))
        (br $wide)))
    (local.set $n (i32.add
      (i32.add (i32x4.extract_lane 0 (local.get $tot)) (i32x4.extract_lane 1 (local.get $tot)))
      (i32.add (i32x4.extract_lane 2 (local.get $tot)) (i32x4.extract_lane 3 (local.get $tot)))))
    (block $done
      (loop $byte
        (br_if $done (i32.ge_u (local.get $p) (local.get $end)))
        (local.set $n (i32.add (local.get $n) (i32.eq (i32.load8_u (local.get $p)) (i32.const 10))))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (br $byte)))
    (local.get $n))

  ;; Offset from $p of the first occurrence of the needle [$np, $np + $nlen) in [$p, $p + $len),
  ;; or -1. $nlen >= 1. Candidates are the starts whose first byte and last byte both match the
  ;; needle's (16 starts per compare); each candidate is then checked byte by byte.
  (func (export "find") (param $p i32) (param $len i32) (param $np i32) (param $nlen i32) (result i32)
    (local $last i32) (local $i i32) (local $n i32) (local $m i32) (local $k i32)
    (local $f v128) (local $l v128)
    (if (i32.gt_u (local.get $nlen) (local.get $len)) (then (return (i32.const -1))))
    (local.set $last (i32.sub (local.get $nlen) (i32.const 1)))
    ;; $n: how many starts there are; the candidate starts are $p + [0, $n).
    (local.set $n (i32.add (i32.sub (local.get $len) (local.get $nlen)) (i32.const 1)))
    (local.set $f (i8x16.splat (i32.load8_u (local.get $np))))
    (local.set $l (i8x16.splat (i32.load8_u (i32.add (local.get $np) (local.get $last)))))
    ;; 32 starts per step while 32 remain: the loads reach $i + 31 + $last < $p + $len.
    (block $wide_done
      (loop $wide
        (br_if $wide_done (i32.lt_u (local.get $n) (i32.add (local.get $i) (i32.const 32))))
        (local.set $k (i32.add (local.get $p) (local.get $i)))
        (local.set $m (i32.or
          (i8x16.bitmask (v128.and
            (i8x16.eq (v128.load (local.get $k)) (local.get $f))
            (i8x16.eq (v128.load (i32.add (local.get $k) (local.get $last))) (local.get $l))))
          (i32.shl
            (i8x16.bitmask (v128.and
              (i8x16.eq (v128.load offset=16 (local.get $k)) (local.get $f))
              (i8x16.eq (v128.load offset=16 (i32.add (local.get $k) (local.get $last))) (local.get $l))))
            (i32.const 16))))
        (block $no_more
          (loop $bits
            (br_if $no_more (i32.eqz (local.get $m)))
            (local.set $k (i32.add (local.get $i) (i32.ctz (local.get $m))))
            (if (call $same (i32.add (local.get $p) (local.get $k)) (local.get $np) (local.get $nlen))
              (then (return (local.get $k))))
            (local.set $m (i32.and (local.get $m) (i32.sub (local.get $m) (i32.const 1))))
            (br $bits)))
        (local.set $i (i32.add (local.get $i) (i32.const 32)))
        (br $wide)))
    (block $done
      (loop $one
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (if (call $same (i32.add (local.get $p) (local.get $i)) (local.get $np) (local.get $nlen))
          (then (return (local.get $i))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $one)))
    (i32.const -1))

  ;; 1 when the $n bytes at $a equal the $n bytes at $b.
  (func $same (param $a i32) (param $b i32) (param $n i32) (result i32)
    (local $j i32)
    (block $done
      (loop $byte
        (br_if $done (i32.ge_u (local.get $j) (local.get $n)))
        (if (i32.ne (i32.load8_u (i32.add (local.get $a) (local.get $j))) (i32.load8_u (i32.add (local.get $b) (local.get $j))))
          (then (return (i32.const 0))))
        (local.set $j (i32.add (local.get $j) (i32.const 1)))
        (br $byte)))
    (i32.const 1))

  ;; Copies [$src, $src + $len) to $dst with ASCII A-Z lowered (other bytes unchanged). The
  ;; ranges may be the same but must not otherwise overlap.
  (func (export "fold_ascii") (param $src i32) (param $dst i32) (param $len i32)
    (local $i i32) (local $v v128) (local $c i32)
    (block $wide_done
      (loop $wide
        (br_if $wide_done (i32.lt_u (i32.sub (local.get $len) (local.get $i)) (i32.const 16)))
        (local.set $v (v128.load (i32.add (local.get $src) (local.get $i))))
        ;; c - 'A' <= 25 (unsigned) exactly for A-Z: those lanes get bit 0x20.
        (v128.store (i32.add (local.get $dst) (local.get $i))
          (v128.or (local.get $v)
            (v128.and
              (i8x16.le_u (i8x16.sub (local.get $v) (i8x16.splat (i32.const 0x41))) (i8x16.splat (i32.const 25)))
              (i8x16.splat (i32.const 0x20)))))
        (local.set $i (i32.add (local.get $i) (i32.const 16)))
        (br $wide)))
    (block $done
      (loop $byte
        (br_if $done (i32.ge_u (local.get $i) (local.get $len)))
        (local.set $c (i32.load8_u (i32.add (local.get $src) (local.get $i))))
        (if (i32.le_u (i32.sub (local.get $c) (i32.const 0x41)) (i32.const 25))
          (then (local.set $c (i32.or (local.get $c) (i32.const 0x20)))))
        (i32.store8 (i32.add (local.get $dst) (local.get $i)) (local.get $c))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $byte)))))
