#!/usr/bin/env bash
# Everything in one GPU call: corpus; temporal VAE and the paper's VAE side by side (same minutes); round trips;
# Motion Mamba and the MLD baseline on the temporal VAE (same minutes); then the action suite for both and a short
# corpus evaluation, side by side.
export PYTHONUNBUFFERED=1
VMIN=${VMIN:-2.8}; DMIN=${DMIN:-3.5}; EMIN=${EMIN:-1.3}
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
T0=$(date +%s)
python3 -m motion_core corpus build --out /tmp/corpus --cmu .gpu/cmu_joints.npz --workers 16 --seed 0 > /tmp/corpus.log 2>&1 || { tail -20 /tmp/corpus.log; exit 1; }
cp .gpu/caption_embeddings.safetensors /tmp/corpus/
echo "corpus built in $(( $(date +%s) - T0 )) s"
mkdir -p /tmp/runs $OUT/w /tmp/res
tv() { python3 -m motion_core train vae --data /tmp/corpus --out /tmp/runs/$1 --config tools/gpu/$2 --minutes $VMIN --steps 1000000 --no-progress > /tmp/runs/$1.log 2>&1; }
tv vae_t32 vae_t32.json & tv vae_paper vae_paper.json &
wait
echo "vaes done at $(( $(date +%s) - T0 )) s"; for r in vae_t32 vae_paper; do tail -1 /tmp/runs/$r/loss.jsonl; done
td() { python3 -m motion_core train $1 --data /tmp/corpus --out /tmp/runs/$2 --vae /tmp/runs/$3 --config tools/gpu/den.json --minutes $DMIN --steps 1000000 --no-progress > /tmp/runs/$2.log 2>&1; }
td denoiser mm_t vae_t32 & td baseline mld_t vae_t32 &
[ -n "$SKIP_EVAL" ] || { python3 tools/gpu/roundtrip.py vae_t32 vae_paper > /tmp/res/roundtrip.log 2>&1; cp /tmp/roundtrip.json /tmp/res/; }
wait
echo "denoisers done at $(( $(date +%s) - T0 )) s"; for r in mm_t mld_t; do tail -2 /tmp/runs/$r.log; tail -1 /tmp/runs/$r/loss.jsonl; done
for r in vae_t32 vae_paper; do for f in /tmp/runs/$r/model/vae*.safetensors; do cp $f $OUT/w/${r}__$(basename $f); done; done
for r in mm_t mld_t; do cp /tmp/runs/$r/model/denoiser.safetensors $OUT/w/${r}__denoiser.safetensors; done
[ -n "$SKIP_EVAL" ] || timeout ${ATO:-100} python3 tools/gpu/actions_gpu.py /tmp/runs/mm_t/model /tmp/res/act_mm > /tmp/res/act_mm.log 2>&1 &
[ -n "$SKIP_EVAL" ] || timeout ${ATO:-100} python3 tools/gpu/actions_gpu.py /tmp/runs/mld_t/model /tmp/res/act_mld > /tmp/res/act_mld.log 2>&1 &
[ -n "$SKIP_EVAL" ] || timeout $(( ${ATO:-100} + 20 )) python3 -m motion_core evaluate --weights /tmp/runs/mm_t/model --baseline /tmp/runs/mld_t/model --evaluator motion_core/weights/default --data /tmp/corpus \
  --repeats 3 --mm-texts 30 --mm-generations 5 --max-minutes $EMIN --json --out /tmp/res/eval_temporal.json --no-progress > /tmp/res/eval_t.log 2>&1 &
wait
echo "all done at $(( $(date +%s) - T0 )) s"; tail -n2 /tmp/res/*.log
cd /tmp/runs && tar czf $OUT/small.tgz */loss.jsonl */loss.png */summary.json */run.json *.log */model/*.json /tmp/corpus/stats.json /tmp/corpus.log /tmp/res 2>/dev/null
ls -la $OUT $OUT/w
