#!/usr/bin/env bash
# Issue 9's equal-budget comparison, and more minutes for the shipped Motion Mamba, side by side on one GPU.
#
# The shipped denoiser had, after the side-by-side round it shares with the MLD baseline (/tmp/mld_dr here, carried
# once as .gpu_mld/), 7,677 + 5,852 more steps at batch 256 on the widened captions (two warm-started runs of
# den.json). The MLD baseline gets exactly those two runs here, by steps (MLD_STEPS), so the two models have seen the
# same samples of the same data through the same VAE. Meanwhile Motion Mamba trains on from the shipped weights
# (MM_CONFIG, MM_INIT) for MIN minutes. Call it again on the warm machine to go on: each run resumes where the last
# call stopped; a finished MLD run is skipped, and once both are done `evaluate` measures the shipped model against
# the caught-up baseline on the test split (REPEATS, default 20).
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD
RUNS=${RUNS:-/tmp/runs}; CORPUS=${CORPUS:-/tmp/corpus}; MIN=${MIN:-8.5}; MLD_INIT=${MLD_INIT:-/tmp/mld_init}
MLD_STEPS=${MLD_STEPS:-7677 5852}; MM_CONFIG=${MM_CONFIG:-tools/gpu/den_b512.json}
MM_INIT=${MM_INIT:-motion_core/weights/default}; MM_RUN=${MM_RUN:-mm_more}; SHIPPED=motion_core/weights/default
T0=$(date +%s); left() { echo "$MIN $T0 $(date +%s)" | awk '{printf "%.2f", $1 - ($3 - $2) / 60}'; }
mkdir -p $RUNS $OUT/w
DEVICE=${DEVICE:-cuda}; [ $DEVICE = cuda ] && nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
if [ ! -f $CORPUS/stats.json ]; then
  python3 -m motion_core corpus build --out $CORPUS --cmu .gpu/cmu_joints.npz --workers 16 --seed 0 --overwrite \
    > $RUNS/corpus.log 2>&1 || { tail -20 $RUNS/corpus.log; exit 1; }
  cp .gpu/caption_embeddings.safetensors $CORPUS/
  echo "corpus built in $(( $(date +%s) - T0 )) s"
fi

# train KIND RUN INIT CONFIG STEPS MINUTES: a fresh run warm-started from INIT, or the same run resumed
train() {
  local how=(--init $3 --config $4); [ -f $RUNS/$2/run.json ] && how=(--resume)
  python3 -m motion_core train $1 --data $CORPUS --out $RUNS/$2 --vae $SHIPPED --steps $5 --minutes $6 \
    --device $DEVICE --no-progress "${how[@]}" >> $RUNS/$2.log 2>&1
}
done_run() { [ -f $RUNS/$1/summary.json ] && python3 -c "import json,sys; s=json.load(open('$RUNS/$1/summary.json')); sys.exit(s['step'] < s['target_steps'])"; }

mm_steps=1000000; [ -f $RUNS/$MM_RUN/run.json ] && MM_RUN=${MM_RUN}_2 && MM_INIT=$RUNS/mm_more/model  # a second call warm-starts a second run, as the shipped model's two were
train denoiser $MM_RUN $MM_INIT $MM_CONFIG $mm_steps $MIN &
mm=$!
(
  init=$MLD_INIT; i=0
  for steps in $MLD_STEPS; do
    i=$((i + 1)); run=mld_eq$i
    done_run $run || train baseline $run $init tools/gpu/den.json $steps $(left)
    done_run $run || exit 0  # out of time: the next call resumes it
    init=$RUNS/$run/model
  done
  echo "MLD caught up at $(( $(date +%s) - T0 )) s"
  base=$RUNS/mld_eq; rm -rf $base; cp -r $RUNS/mld_eq$i/model $base; cp $SHIPPED/vae-*.safetensors $base/
  [ -f $RUNS/eval_equal.json ] || timeout $(python3 -c "print(max(int(($(left) - 0.3) * 60), 10))") \
    python3 -m motion_core evaluate --weights $SHIPPED --baseline $base --evaluator $SHIPPED --data $CORPUS \
    --split test --repeats ${REPEATS:-20} --max-minutes $(left) --json --out $RUNS/eval_equal.json --device $DEVICE \
    --no-progress > $RUNS/eval_equal.log 2>&1
) &
wait
echo "all done at $(( $(date +%s) - T0 )) s"
for r in $MM_RUN mld_eq1 mld_eq2; do [ -f $RUNS/$r/summary.json ] && { echo "$r: $(cat $RUNS/$r/summary.json)"; }; done
tail -5 $RUNS/eval_equal.log 2>/dev/null
cp $RUNS/$MM_RUN/model/denoiser*.safetensors $OUT/w/ 2>/dev/null
for f in $RUNS/mld_eq2/model/denoiser*.safetensors; do [ -f $f ] && cp $f $OUT/w/mld_eq__$(basename $f); done
cd $RUNS && tar czf $OUT/small.tgz $(ls -d *.log */loss.jsonl */summary.json */run.json */model/*.json eval_equal.json 2>/dev/null)
ls -la $OUT $OUT/w
