#!/bin/bash
# One device call (carry: [".gpu_text"]): the fused blocks' GPU tests, then `bench generate` on the shipped model
# (fused, reference blocks, MLD in one process), then every other GPU test. Results land in $OUT.
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD
OUT=${OUT:-/tmp/out}; mkdir -p $OUT
nvidia-smi -L | tee $OUT/gpu.txt
python3 tools/gpu/stand_in_text_model.py .gpu_text --fill
export MOTION_CORE_TEXT_MODEL_DIR=$PWD/.gpu_text
timeout ${TEST_S:-200} python3 -m pytest tests/test_fused_block.py -q -x -p no:cacheprovider 2>&1 | tee $OUT/fused_tests.log | tail -25
timeout ${BENCH_S:-240} python3 -m motion_core bench generate --device cuda --weights default --sections ${SECTIONS:-graph,throughput} \
  --batches 64,256 --cpu-threads 0 --repeats ${REPEATS:-10} --json --out $OUT/generate_bench.json > $OUT/bench.log 2>&1
tail -c 3000 $OUT/generate_bench.json; tail -5 $OUT/bench.log
timeout ${PROFILE_S:-90} python3 tools/gpu/profile_denoiser.py > $OUT/profile_denoiser.json 2> $OUT/profile.err; head -c 2500 $OUT/profile_denoiser.json; tail -3 $OUT/profile.err
if [ -n "$ALL_GPU_TESTS" ]; then
  timeout ${ALL_S:-120} python3 -m pytest tests -q -m gpu -p no:cacheprovider 2>&1 | tee $OUT/gpu_tests.log | tail -15
fi
if [ -n "$TIMELINE" ]; then  # issue 11's GPU figure: seconds for 10 minutes of motion (seams need the real text encoder)
  timeout ${TIMELINE_S:-200} python3 -m motion_core bench timeline --weights motion_core/weights/default --device cuda \
    --minutes 1 10 --repeats 3 --seeds 1 --compare dpmpp_2m:10 --out $OUT/timeline_bench.json > $OUT/timeline.log 2>&1
  tail -c 1500 $OUT/timeline_bench.json; tail -3 $OUT/timeline.log
fi
if [ -n "$TUNE" ]; then  # launch settings swept by denoiser-call replay time, then bench generate with the best
  timeout ${TUNE_S:-260} python3 tools/gpu/tune_fused.py > $OUT/tune_fused.json 2> $OUT/tune.log
  tail -c 2500 $OUT/tune_fused.json; tail -12 $OUT/tune.log
fi
