"""Split a caption-embedding cache into parts small enough to travel to the GPU machine, and merge them there.

A call sends at most 64 MiB of working tree, and the tracked files take about 47 of it, so a corpus with many
distinct captions (8 h of procedural motion: 30,766, 26 MB in float16) travels in two calls on one warm machine:

    python tools/gpu/cache_parts.py split .gpu/caption_embeddings.safetensors .gpu_part/a .gpu/b   # here
    # call 1, carry [".gpu_part"]:  mkdir -p /tmp/keep && cp .gpu_part/a.safetensors /tmp/keep/
    # call 2, carry [".gpu"]:       python tools/gpu/cache_parts.py merge .gpu/caption_embeddings.safetensors \
    #                                   /tmp/keep/a.safetensors .gpu/b.safetensors
Rows are copied as stored (float16), so the merged cache equals the original.
"""

import argparse

from motion_core.data.dataset import CaptionEmbeddings


def split(source, first, second):
    cache = CaptionEmbeddings.load(source)
    half = len(cache) // 2
    CaptionEmbeddings(cache.captions[:half], cache.embeddings[:half]).save(f"{first}.safetensors")
    CaptionEmbeddings(cache.captions[half:], cache.embeddings[half:]).save(f"{second}.safetensors")
    print(f"{len(cache)} captions -> {half} + {len(cache) - half}")


def merge(out, *parts):
    cache = CaptionEmbeddings.load(parts[0])
    for part in parts[1:]:
        cache = cache.merged(CaptionEmbeddings.load(part))
    cache.save(out)
    print(f"{len(cache)} captions -> {out}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("split", "merge"))
    parser.add_argument("paths", nargs="+", help="split: SOURCE FIRST SECOND (no suffix); merge: OUT PART...")
    args = parser.parse_args()
    split(*args.paths) if args.command == "split" else merge(*args.paths)
