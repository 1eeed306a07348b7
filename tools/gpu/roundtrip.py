"""Round trip of each trained VAE on the corpus test split (numbers only; the action check runs on the CPU side)."""
import json, sys, time
from motion_core.data.dataset import MotionTextDataset
from motion_core.evaluate import vae_round_trip
from motion_core.train import load_vae
data = MotionTextDataset("/tmp/corpus", "test", allow_missing_captions=True)
out = {}
for run in sys.argv[1:]:
    t = time.time()
    try:
        out[run] = vae_round_trip(load_vae(f"/tmp/runs/{run}", "cuda"), data, "cuda", batch_size=256)
    except Exception as error:
        out[run] = {"error": repr(error)}
    out[run]["seconds"] = round(time.time() - t, 1)
    print(run, json.dumps(out[run]))
json.dump(out, open("/tmp/roundtrip.json", "w"), indent=2)
