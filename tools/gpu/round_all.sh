#!/usr/bin/env bash
# One GPU call, in stages that each hand their weights to $OUT as soon as they finish (a call that runs out of time
# still returns what it finished):
#   corpus  -> rebuilt from the CMU pack and seed 0 (~25 s on 16 cores), caption embeddings carried in .gpu/;
#              HOURS=N hours of procedural motion (default: `corpus build`'s; the same N prepare.sh was given)
#   vae     -> temporal VAE (vae_t32.json) and the paper's VAE (vae_paper.json) side by side, VMIN minutes each;
#              VAES="run:config ..." picks others (configs in tools/gpu/), INIT_VAE=dir warm-starts them all; without
#              the den stage, or with REF_VAE=dir (e.g. the shipped default), their round trips are measured here
#   den     -> (with vae: both round trips meanwhile) Motion Mamba and the MLD baseline on the temporal VAE (den.json), side by side, DMIN minutes each;
#              VAE=dir uses a carried VAE (or generator folder) instead of this call's; INIT_MM=file and
#              INIT_MLD=file warm-start the two from earlier exports (a second call continuing the first);
#              VAE=auto VAE_RUNS=dir picks the best round trip of a vae stage's runs there (pick_vae.py)
#   eval    -> the action suite for both models; a short corpus evaluation
# STAGES picks them (default "vae den eval"); SKIP_EVAL=1 drops eval; LIMIT=N suite prompts; ATO=S caps each measurement.
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD  # tools/gpu/*.py import motion_core from the checkout
VMIN=${VMIN:-2.8}; DMIN=${DMIN:-3.5}; EMIN=${EMIN:-1.3}; STAGES=${STAGES:-vae den eval}
DEVICE=${DEVICE:-cuda}; WORKERS=${WORKERS:-16}; RUNS=${RUNS:-/tmp/runs}; CORPUS=${CORPUS:-/tmp/corpus}
[ -n "$SKIP_EVAL" ] && STAGES=${STAGES/eval/}
has() { [[ " $STAGES " == *" $1 "* ]]; }
[ "$DEVICE" = cuda ] && nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
T0=$(date +%s)
mkdir -p $RUNS $OUT/w $RUNS/res
python3 -m motion_core corpus build --out $CORPUS --cmu .gpu/cmu_joints.npz --workers $WORKERS --seed 0 ${HOURS:+--hours $HOURS} --overwrite > $RUNS/corpus.log 2>&1 || { tail -20 $RUNS/corpus.log; exit 1; }
cp .gpu/caption_embeddings.safetensors $CORPUS/
echo "corpus built in $(( $(date +%s) - T0 )) s"

if has vae; then
  VAES=${VAES:-vae_t32:vae_t32.json vae_paper:vae_paper.json}
  vinit=(); [ -n "$INIT_VAE" ] && vinit=(--init $INIT_VAE)
  tv() { python3 -m motion_core train vae --data $CORPUS --out $RUNS/$1 --config tools/gpu/$2 --minutes $VMIN --steps 1000000 --device $DEVICE --no-progress "${vinit[@]}" > $RUNS/$1.log 2>&1; }
  for pair in $VAES; do tv ${pair%%:*} ${pair#*:} & done
  wait
  echo "vaes done at $(( $(date +%s) - T0 )) s"; for pair in $VAES; do tail -1 $RUNS/${pair%%:*}/loss.jsonl; done
  # only temporal VAEs' weights come back (at most 8 files per call); the paper's VAE is measured here
  for pair in $VAES; do r=${pair%%:*}; [ $r = vae_paper ] && continue
    for f in $RUNS/$r/model/vae*.safetensors; do cp $f $OUT/w/${r}__$(basename $f); done; done  # configs: small.tgz
  if ! has den || [ -n "$REF_VAE" ]; then  # measured now when the denoisers need the pick (VAE=auto)
    names=$(for pair in $VAES; do printf "%s " ${pair%%:*}; done)
    [ -n "$REF_VAE" ] && { cp -r $REF_VAE $RUNS/reference; names="$names reference"; }
    python3 tools/gpu/roundtrip.py $RUNS $DEVICE $names > $RUNS/res/roundtrip.log 2>&1; tail -5 $RUNS/res/roundtrip.log
  fi
fi
VAE=${VAE:-$RUNS/vae_t32}
[ "$VAE" = auto ] && VAE=$(python3 tools/gpu/pick_vae.py $VAE_RUNS)  # VAE=auto VAE_RUNS=dir: the best round trip there

if has den; then
  td() {
    local init=(); [ -n "$3" ] && init=(--init $3)
    python3 -m motion_core train $1 --data $CORPUS --out $RUNS/$2 --vae $VAE --config ${DEN_CONFIG:-tools/gpu/den.json} --minutes $DMIN --steps 1000000 --device $DEVICE --no-progress "${init[@]}" > $RUNS/$2.log 2>&1
  }
  DENS=${DENS:-mm_t mld_t}  # DENS=mm_t trains Motion Mamba alone (the whole GPU)
  [[ " $DENS " == *" mm_t "* ]] && td denoiser mm_t "$INIT_MM" &
  [[ " $DENS " == *" mld_t "* ]] && td baseline mld_t "$INIT_MLD" &
  has vae && [ ! -f $RUNS/res/roundtrip.json ] && { python3 tools/gpu/roundtrip.py $RUNS $DEVICE vae_t32 vae_paper > $RUNS/res/roundtrip.log 2>&1; }
  wait
  echo "denoisers done at $(( $(date +%s) - T0 )) s"; for r in $DENS; do tail -2 $RUNS/$r.log; tail -1 $RUNS/$r/loss.jsonl; done
  for r in $DENS; do for f in $RUNS/$r/model/denoiser*.safetensors; do cp $f $OUT/w/${r}__$(basename $f); done; done
fi

if has eval; then
  # BASELINE=dir compares against another generator folder (default: this call's MLD run, when it trained one);
  # REF_GEN=dir also runs the action suite on it (e.g. the shipped default, for a same-machine comparison)
  BASELINE=${BASELINE:-$RUNS/mld_t/model}; base=(); [ -d $BASELINE ] && base=(--baseline $BASELINE)
  timeout ${ATO:-100} python3 tools/gpu/actions_gpu.py $RUNS/mm_t/model $RUNS/res/act_mm $DEVICE > $RUNS/res/act_mm.log 2>&1 &
  [ -d $BASELINE ] && timeout ${ATO:-100} python3 tools/gpu/actions_gpu.py $BASELINE $RUNS/res/act_mld $DEVICE > $RUNS/res/act_mld.log 2>&1 &
  # VARIANTS="name:guidance:steps[:sampler] ...": the suite on this call's Motion Mamba with other sampler settings
  for v in $VARIANTS; do IFS=: read n g st sa <<< "$v"
    GUIDANCE=$g STEPS=$st SAMPLER=$sa timeout ${ATO:-100} python3 tools/gpu/actions_gpu.py $RUNS/mm_t/model $RUNS/res/act_$n $DEVICE > $RUNS/res/act_$n.log 2>&1 & done
  [ -n "$REF_GEN" ] && timeout ${ATO:-100} python3 tools/gpu/actions_gpu.py $REF_GEN $RUNS/res/act_ref $DEVICE > $RUNS/res/act_ref.log 2>&1 &
  timeout $(( ${ATO:-100} + 20 )) python3 -m motion_core evaluate --weights $RUNS/mm_t/model "${base[@]}" --evaluator motion_core/weights/default --data $CORPUS \
    --repeats ${EREP:-3} --mm-texts 30 --mm-generations 5 --max-minutes $EMIN --json --out $RUNS/res/eval_temporal.json --device $DEVICE --no-progress > $RUNS/res/eval_t.log 2>&1 &
  wait
fi
echo "all done at $(( $(date +%s) - T0 )) s"; tail -n2 $RUNS/res/*.log 2>/dev/null
cp $CORPUS/stats.json $RUNS/corpus_stats.json 2>/dev/null
# the suite's contact sheets stay behind (a call returns files of at most 16 MiB); their results.json come back
cd $RUNS && tar czf $OUT/small.tgz --exclude='res/*/*.png' $(ls -d */loss.jsonl */loss.png */summary.json */run.json *.log */model/*.json corpus_stats.json res 2>/dev/null)
ls -la $OUT $OUT/w
