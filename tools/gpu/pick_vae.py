"""The VAE run to train denoisers on, chosen by issue 9's round-trip gate: pick_vae.py RUNS -> prints RUNS/<run>.

Reads RUNS/res/roundtrip.json (roundtrip.py). Most gate items met first (joint error <= 2.5 cm, foot skate <= 1.1x
the originals', actions kept >= 97%), then actions kept, then joint error. The reference VAE (the shipped one, REF_VAE) is picked when no new run beats
it, so the denoiser then keeps training on the latent it knows.
"""
import json, sys
runs = sys.argv[1]
results = json.load(open(f"{runs}/res/roundtrip.json"))
def key(item):
    r = item[1]
    gates = (r["joint_error_cm"] <= 2.5) + (r["foot_skate_ratio"] <= 1.1) + (r["action_kept"] >= 0.97)
    return (gates, round(r["action_kept"], 3), -r["joint_error_cm"])
candidates = [(name, r) for name, r in results.items() if "error" not in r]
name = max(candidates, key=key)[0]
print(f"picked {name}: {json.dumps(results[name])}", file=sys.stderr)
print(f"{runs}/{name}")
