"""Round trip of each trained VAE on the corpus test split: roundtrip.py RUNS DEVICE RUN [RUN ...] -> RUNS/res/roundtrip.json"""
import json, os, sys, time
from motion_core.data.dataset import MotionTextDataset
from motion_core.evaluate import corpus_action_check, vae_round_trip
from motion_core.models.vae import FeatureVAE
runs, device = sys.argv[1], sys.argv[2]
data = MotionTextDataset(os.environ.get("CORPUS", "/tmp/corpus"), "test", allow_missing_captions=True)
out = {}
for run in sys.argv[3:]:
    t = time.time()
    try:
        out[run] = vae_round_trip(FeatureVAE.from_pretrained(f"{runs}/{run}", device), data, device, batch_size=256,
                                 action_check=corpus_action_check(data))
    except Exception as error:
        out[run] = {"error": repr(error)}
    out[run]["seconds"] = round(time.time() - t, 1)
    print(run, json.dumps(out[run]))
json.dump(out, open(f"{runs}/res/roundtrip.json", "w"), indent=2)
