#!/usr/bin/env bash
# Second call on the warm machine after the side-by-side call (tools/gpu/README.md): the action suite on the shipped
# model, the new denoiser alone, and the new denoiser with the new decoder, plus the corpus evaluation of the last
# against the shipped model, all on this GPU. Only JSON comes back (a call returns at most 8 files).
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD
DEN=${DEN:-/tmp/runsd/mm_t/model}; VAE_RUN=${VAE_RUN:-/tmp/runs/vae_dr/model}; CORPUS=${CORPUS:-/tmp/corpusd}
COMBO=/tmp/combo; rm -rf $COMBO; cp -r $DEN $COMBO; cp $VAE_RUN/vae-*.safetensors $COMBO/
for pair in ref:motion_core/weights/default den:$DEN combo:$COMBO; do
  timeout ${ATO:-240} python3 tools/gpu/actions_gpu.py ${pair#*:} /tmp/act_${pair%%:*} cuda > /tmp/act_${pair%%:*}.log 2>&1 &
done
timeout $(( ${ATO:-240} + 40 )) python3 -m motion_core evaluate --weights $COMBO --baseline motion_core/weights/default \
  --evaluator motion_core/weights/default --data $CORPUS --split val --repeats ${EREP:-3} --mm-texts 10 \
  --mm-generations 5 --json --out $OUT/eval_combo_vs_shipped.json --device cuda --no-progress > /tmp/eval.log 2>&1 &
wait
for n in ref den combo; do cp /tmp/act_$n/results.json $OUT/act_$n.json 2>/dev/null; tail -2 /tmp/act_$n.log; done
tail -3 /tmp/eval.log
mkdir -p $OUT/w; cp $COMBO/config.json $OUT/w/  # the weights came back with the first call
