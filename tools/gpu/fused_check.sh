#!/bin/bash
# One device call (carry: [".gpu_text"]): the fused blocks' GPU tests, then `bench generate` on the shipped model
# (fused, reference blocks, MLD in one process), then every other GPU test. Results land in $OUT.
# TUNE=1: first tools/gpu/tune_fused.py (sweep, best settings to $OUT/fused_best.json, bench generate with them),
# then the tests and the profile under those settings (FUSED_SETTINGS), and no separate bench.
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD
OUT=${OUT:-/tmp/out}; mkdir -p $OUT
nvidia-smi -L | tee $OUT/gpu.txt
python3 tools/gpu/stand_in_text_model.py .gpu_text --fill
export MOTION_CORE_TEXT_MODEL_DIR=$PWD/.gpu_text
if [ -n "$TUNE" ]; then  # launch settings swept by denoiser-call replay time, then bench generate with the best
  timeout ${TUNE_S:-300} python3 tools/gpu/tune_fused.py --sweep-s ${SWEEP_S:-170} --settings $OUT/fused_best.json \
    --out $OUT/tune_fused.json > /dev/null 2> $OUT/tune.log
  tail -c 1500 $OUT/tune_fused.json; grep -v "^{'row'" $OUT/tune.log | tail -8
  [ -s $OUT/fused_best.json ] && export FUSED_SETTINGS=$OUT/fused_best.json
fi
T=tests/test_fused_block.py  # the whole file, the tests that never ran on a GPU first (a timeout cuts the last ones)
timeout ${TEST_S:-200} python3 -m pytest -v --maxfail=5 -p no:cacheprovider $T::test_fused_blocks_at_other_batch_sizes \
  $T::test_fused_denoiser_matches_reference_at_every_latent_length $T::test_fused_denoiser_is_deterministic_and_graph_capturable \
  $T::test_fused_blocks_match_reference $T::test_fused_blocks_match_reference_over_short_chunks \
  $T::test_fused_bsm_with_fewer_tokens_than_slots $T::test_fused_path_stays_off_on_cpu_and_for_concat_aggregation \
  2>&1 | tee $OUT/fused_tests.log | grep -E "PASS|FAIL|ERROR|passed|failed" | tail -40
if [ -z "$TUNE" ]; then
  timeout ${BENCH_S:-240} python3 -m motion_core bench generate --device cuda --weights default --sections ${SECTIONS:-graph,throughput} \
    --batches 64,256 --cpu-threads 0 --repeats ${REPEATS:-10} --json --out $OUT/generate_bench.json > $OUT/bench.log 2>&1
  tail -c 3000 $OUT/generate_bench.json; tail -5 $OUT/bench.log
fi
timeout ${PROFILE_S:-90} python3 tools/gpu/profile_denoiser.py > $OUT/profile_denoiser.json 2> $OUT/profile.err; head -c 2500 $OUT/profile_denoiser.json; tail -3 $OUT/profile.err
if [ -n "$ALL_GPU_TESTS" ]; then
  timeout ${ALL_S:-120} python3 -m pytest tests -q -m gpu -p no:cacheprovider 2>&1 | tee $OUT/gpu_tests.log | tail -15
fi
if [ -n "$TIMELINE" ]; then  # issue 11's GPU figure: seconds for 10 minutes of motion (seams need the real text encoder)
  timeout ${TIMELINE_S:-200} python3 -m motion_core bench timeline --weights motion_core/weights/default --device cuda \
    --minutes 1 10 --repeats 3 --seeds 1 --compare dpmpp_2m:10 --out $OUT/timeline_bench.json > $OUT/timeline.log 2>&1
  tail -c 1500 $OUT/timeline_bench.json; tail -3 $OUT/timeline.log
fi
