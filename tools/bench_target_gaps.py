"""What limits each issue-7 target fastgru has missed in a full run, and what was tried.

BENCHMARKS.md prints an entry under each target its run misses, after the gap measured in
that run (tools/bench_extras_report.py). The entries are the record of measurements made on
this machine class (a shared 2-core Zen 4 VM, 1 MiB L2 and 32 KiB L1 per core): when the code
changes what they say, change them with it. Keys: ("speed", workload, threads) for the ratio
targets against the fastest peer, ("c_stream", workload, threads, precision) for
fastgru_stream_bench.
"""

_TEAM = ("a step split across 2 cores pays the hand-over (the worker sees the job ~95 ns after "
         "the call starts) and the join (~190 ns from the worker's last store to the caller "
         "seeing it), measured with rdtsc timelines")
_L2 = ("a batch-1 step reads every weight once, one 64-byte load per 16-lane FMA, so it runs "
       "at the bandwidth of the cache holding the weights")

GAPS = {
    ("speed", "L1", 2): {
        "limit": "B=1, T=512, 64 → 256 on 2 cores: each core keeps its half of U (393 KB) in "
                 "its own L2, runs its blocks' recurrent tile and gate maths, then one barrier "
                 f"a step; {_L2}. Measured 2.20–2.37 ms across runs, 4.3–4.6 µs a step: each "
                 "core's half streams at ~100 GB/s (4.0 µs), the barrier costs ~0.1 µs, the "
                 "input projection ~0.25 ms in all. A build with no barrier at all (wrong "
                 "results) ran 2.13–2.22 ms, so synchronisation is worth at most 0.05–0.15 ms. "
                 "onnxruntime's own 2-thread time swings 3.44–3.53 ms and OpenVINO's 4.2 ms "
                 "between runs: at 2.20 ms fastgru is 1.56–1.60×, at 2.37 ms 1.45–1.49×.",
        "tried": "units split with each core's slice resident in its L2 and one barrier a "
                 "step (kept: 4.60 → 2.25–2.50 ms); barrier counters on their own cache lines "
                 "and a one-line hand-over (kept, ~2 %); steps written straight into y (kept); "
                 "blocks walked upward and downward in turn so each step starts on weights "
                 "left in L1 (kept: 2.35–2.50 → 2.20–2.28 ms); input-projection chunks of "
                 "16 / 32 / 64 steps (64 pushes U out of L2; 16 = 32); folding the last barrier "
                 "into the join (no gain); two blocks per FMA tile (bandwidth-bound: no gain); "
                 "software prefetch of the weights 128–768 bytes ahead (no gain: S2 at 1 and 2 "
                 "threads unchanged within 1 %).",
    },
    ("speed", "S2", 2): {
        "limit": "the Python stream is the C step (see the C stream S2 entry: 5.1–5.4 µs on 2 "
                 "threads) plus ~0.05 µs of call; 3.5× onnxruntime's 19.5–20 µs needs "
                 "5.6–5.7 µs, so the target is met or missed by the 2-thread swing of the "
                 "shared machine (fastgru's Python S2 stream measured 5.58 µs in one full run "
                 "and 6.72 µs in the next, on the same kernels).",
        "tried": "as for the C S2 stream at 2 threads; on the Python side the stream checks "
                 "its arrays against specs made once, allocates nothing with out=, and keeps "
                 "the GIL for small steps (call overhead 0.5 → 0.04 µs).",
    },
    ("speed", "S2", 1): {
        "limit": f"the C step at 1 thread (~10.0 µs), {_L2}: 983 KB of weights nearly fill "
                 "the 1 MiB L2, so part of each step comes from L3; the issue's hand-written "
                 "floor is 10.0 µs. 2.2× onnxruntime's 24.5–25.4 µs needs 11.1–11.5 µs.",
        "tried": "alternating block order (10.6 → 10.0 µs); software prefetch (no gain).",
    },
    ("speed", "L1", 1): {
        "limit": f"{_L2}; on 1 core the recurrent part alone is ~3.7 ms (issue's floor) plus "
                 "the input projection; fastgru measured 4.4–4.9 ms across runs against "
                 "onnxruntime's 5.1–5.7 ms.",
        "tried": "alternating block order, input-projection chunk sizes, two blocks per tile.",
    },
    ("c_stream", "S1", 1, "float32"): {
        "limit": f"16 → 64: {_L2}. The step streams 61 KB of weights, twice L1, so about half "
                 "comes from L2 each step (alternating the block order keeps the rest in L1). "
                 "By callgrind (AVX2 kernels under valgrind) a step is 6,505 instructions: "
                 "5,367 in the kernels, ~1,140 in the call (config and stride checks, the "
                 "workspace plan, the thread decision, the executor's per-call input and output "
                 "set-up). The issue's hand-written fused step, which has no call around it, "
                 "measured 0.55 µs.",
        "tried": "a plan made once per stream, no allocation, the state read in place (kept: "
                 "1.12 → 0.71 µs); alternating block order (kept: 711 → 691 ns); one state "
                 "copy a call instead of two, no zeroing of the job, the active ISA remembered "
                 "(kept: 6,632 → 6,505 instructions, ~10 ns); a T=1 path with the input "
                 "product fused into each block's recurrent tile (711 → 721 ns, dropped); two "
                 "blocks per FMA tile to shorten the FMA dependency chains (slower, dropped). "
                 "Left: checking and planning a layer once per stream instead of per call "
                 "(~1,100 instructions, at most ~0.1 µs).",
    },
    ("c_stream", "S1", 2, "float32"): {
        "limit": f"a step of 16 → 64 is ~0.6 µs on one core; {_TEAM}, and each half then "
                 "took ~420 ns (its half of h and the whole x read across cores). The split "
                 "loses (0.84 µs against 0.69 µs), so the driver keeps S1 on one thread "
                 "(fg_gru.c: FG_MIN_STEP_FLOPS_UNITS_SPLIT). 0.35 µs needs both cores already "
                 "spinning inside one long loop over steps, which a call per step cannot have.",
        "tried": "a lock-free team with the job copied into its own cache lines (hand-over "
                 "~400 → ~95 ns); workers used only once running (no wait on the scheduler); "
                 "skipping the block alternation for one-step split runs (worse).",
    },
    ("c_stream", "S2", 2, "float32"): {
        "limit": f"64 → 256 on 2 cores: {_TEAM}; between them each core streams its half of "
                 "the weights (491 KB, in its own L2) in 4.75–5.08 µs, ~97–103 GB/s, against "
                 "the ~4.3 µs a hand-written loop reaches in isolation. Quiet A/B runs measure "
                 "5.1 µs a step, 2 % over. The C bench runs after every peer; when the host "
                 "takes the second core, a call runs on the caller alone (the team uses only "
                 "workers that are running) or waits for the worker at the barrier, and the "
                 "figure climbs toward the 1-thread step (9.8–10.0 µs): the Python stream of "
                 "the same step, timed among the peers, is then the better figure.",
        "tried": "the team hand-over and job layout above (5.3 → 5.1 µs); alternating block "
                 "order; software prefetch of the weights 128–768 bytes ahead (minimum "
                 "5.67 µs without, 5.65–5.71 µs with, same noisy hour); two blocks per FMA "
                 "tile (no change); prefetching h at the step start (no change).",
    },
    ("c_stream", "S2", 1, "bfloat16"): {
        "limit": "bf16 halves the bytes a step reads (491 KB of weights instead of 983 KB), "
                 "but x and h are rounded to bf16 pairs before the products and the gate maths "
                 "stays fp32, so a step does not halve: it reads its weights from L2 at "
                 "~90–95 GB/s. With input size 1 (U only) a step took 4.6 µs against the "
                 "issue's bf16 floor of 4.5 µs; S2 measured 5.1 µs in every full run, 2–3 % "
                 "over.",
        "tried": "split accumulators and software prefetch in the vdpbf16ps kernel (nothing "
                 "measurable); alternating block order (kept).",
    },
    ("c_stream", "S2", 2, "bfloat16"): {
        "limit": f"{_TEAM}. The 1-thread step takes 5.1 µs: half of it plus those ~0.29 µs "
                 "is 2.84 µs, over 2.7 µs before any cross-core cost (each core reads all of h "
                 "and x, half of which the other core wrote). Measured 3.2–3.3 µs.",
        "tried": "the team work listed for fp32 (the code is shared: hand-over ~400 → ~95 ns).",
    },
}
