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
  (func $count_nl (export "count_nl") (param $p i32) (param $len i32) (result i32)
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

;; Newlines before the hit of the last find (see find).
  (global $nl_before (export "nl_before") (mut i32) (i32.const 0))

  ;; Offset from $p of the first occurrence of the needle [$np, $np + $nlen) in [$p, $p + $len),
  ;; or -1; and, in the same pass, the number of newlines before it (in [$p, $p + offset), or in
  ;; the whole range when there is none) in $nl_before. $nlen >= 1.
  ;; Candidates are the starts whose first byte and last byte both match the needle's (32 starts
  ;; per step, in two 16-byte compares); each candidate is then checked byte by byte. Newlines are
  ;; counted per lane as in count_nl, 2 per step, widened after at most 127 steps (254 < 256).
  (func (export "find") (param $p i32) (param $len i32) (param $np i32) (param $nlen i32) (result i32)
    (local $last i32) (local $i i32) (local $n i32) (local $m i32) (local $k i32) (local $s i32)
    (local $stop i32) (local $c i32)
    (local $f v128) (local $l v128) (local $nl v128) (local $a0 v128) (local $a1 v128) (local $acc v128) (local $tot v128)
    (if (i32.gt_u (local.get $nlen) (local.get $len)) (then
      (global.set $nl_before (call $count_nl (local.get $p) (local.get $len)))
      (return (i32.const -1))))
    (local.set $last (i32.sub (local.get $nlen) (i32.const 1)))
    ;; $n: how many starts there are; the candidate starts are $p + [0, $n).
    (local.set $n (i32.add (i32.sub (local.get $len) (local.get $nlen)) (i32.const 1)))
    (local.set $f (i8x16.splat (i32.load8_u (local.get $np))))
    (local.set $l (i8x16.splat (i32.load8_u (i32.add (local.get $np) (local.get $last)))))
    (local.set $nl (i8x16.splat (i32.const 10)))
    ;; 32 starts per step while 32 remain: the loads reach $i + 31 + $last < $len.
    (block $wide_done
      (loop $round
        (br_if $wide_done (i32.lt_u (local.get $n) (i32.add (local.get $i) (i32.const 32))))
        (local.set $stop (i32.add (local.get $i) (i32.const 4032)))
        (local.set $acc (v128.const i64x2 0 0))
        (block $round_done
          (loop $step
            (br_if $round_done (i32.lt_u (local.get $n) (i32.add (local.get $i) (i32.const 32))))
            (br_if $round_done (i32.gt_u (local.get $i) (local.get $stop)))
            (local.set $k (i32.add (local.get $p) (local.get $i)))
            (local.set $a0 (v128.load (local.get $k)))
            (local.set $a1 (v128.load offset=16 (local.get $k)))
            (local.set $m (i32.or
              (i8x16.bitmask (v128.and
                (i8x16.eq (local.get $a0) (local.get $f))
                (i8x16.eq (v128.load (i32.add (local.get $k) (local.get $last))) (local.get $l))))
              (i32.shl
                (i8x16.bitmask (v128.and
                  (i8x16.eq (local.get $a1) (local.get $f))
                  (i8x16.eq (v128.load offset=16 (i32.add (local.get $k) (local.get $last))) (local.get $l))))
                (i32.const 16))))
            (if (local.get $m) (then
              (loop $bits
                (local.set $s (i32.ctz (local.get $m)))
                (if (call $same (i32.add (local.get $k) (local.get $s)) (local.get $np) (local.get $nlen)) (then
                  ;; Newlines before the hit: the rounds so far, this round's lanes, and those
                  ;; of this step's bytes before the hit (a bit mask of its 32 bytes).
                  (global.set $nl_before (i32.add
                    (call $sum (i32x4.add (local.get $tot)
                      (i32x4.extadd_pairwise_i16x8_u (i16x8.extadd_pairwise_i8x16_u (local.get $acc)))))
                    (i32.popcnt (i32.and
                      (i32.or
                        (i8x16.bitmask (i8x16.eq (local.get $a0) (local.get $nl)))
                        (i32.shl (i8x16.bitmask (i8x16.eq (local.get $a1) (local.get $nl))) (i32.const 16)))
                      (i32.sub (i32.shl (i32.const 1) (local.get $s)) (i32.const 1))))))
                  (return (i32.add (local.get $i) (local.get $s)))))
                (local.set $m (i32.and (local.get $m) (i32.sub (local.get $m) (i32.const 1))))
                (br_if $bits (local.get $m)))))
            (local.set $acc (i8x16.sub
              (i8x16.sub (local.get $acc) (i8x16.eq (local.get $a0) (local.get $nl)))
              (i8x16.eq (local.get $a1) (local.get $nl))))
            (local.set $i (i32.add (local.get $i) (i32.const 32)))
            (br $step)))
        (local.set $tot (i32x4.add (local.get $tot)
          (i32x4.extadd_pairwise_i16x8_u (i16x8.extadd_pairwise_i8x16_u (local.get $acc)))))
        (br $round)))
    ;; The last starts one by one, counting the newline at each start that is not a hit.
    (local.set $c (call $sum (local.get $tot)))
    (block $done
      (loop $one
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (if (call $same (i32.add (local.get $p) (local.get $i)) (local.get $np) (local.get $nlen)) (then
          (global.set $nl_before (local.get $c))
          (return (local.get $i))))
        (local.set $c (i32.add (local.get $c) (i32.eq (i32.load8_u (i32.add (local.get $p) (local.get $i))) (i32.const 10))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $one)))
    ;; No hit: the bytes after the last start ($nlen - 1 of them) are counted too.
    (global.set $nl_before (i32.add (local.get $c)
      (call $count_nl (i32.add (local.get $p) (local.get $i)) (i32.sub (local.get $len) (local.get $i)))))
    (i32.const -1))

  ;; The sum of the four i32 lanes.
  (func $sum (param $v v128) (result i32)
    (i32.add
      (i32.add (i32x4.extract_lane 0 (local.get $v)) (i32x4.extract_lane 1 (local.get $v)))
      (i32.add (i32x4.extract_lane 2 (local.get $v)) (i32x4.extract_lane 3 (local.get $v)))))

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
