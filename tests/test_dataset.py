"""motion_core.data.dataset: segments, T2M-style crops, masks, the caption-embedding cache, the batch sampler.

`write_tiny_corpus` and `fake_encode` are shared with tests/test_train.py and tests/test_evaluate.py.
"""

import zlib

import numpy as np
import pytest
import torch

from motion_core.data.dataset import (CACHE_FILE, BatchSampler, CaptionEmbeddings, MotionTextDataset,
                                      ensure_caption_embeddings)
from motion_core.errors import MotionError

TEXT_DIM = 384
CAPTIONS = ["a person walks forward", "someone jogs in a circle", "a man waves with his right hand",
            "a person jumps in place", "somebody sits down and stands up", "a woman kicks with her left leg"]


def fake_encode(texts):
    """Deterministic stand-in for the MiniLM encoder: a unit vector seeded by the caption's CRC."""
    rows = [np.random.default_rng(zlib.crc32(t.encode())).standard_normal(TEXT_DIM) for t in texts]
    rows = np.stack(rows).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def _text_line(caption, start=0.0, end=0.0):
    tokens = " ".join(f"{w}/OTHER" for w in caption.split())
    return f"{caption}#{tokens}#{start}#{end}"


def write_tiny_corpus(root, clips=24, seed=0, feature_dim=263, lengths=(30, 260), test_fraction=0.25,
                      spans=True):
    """A hand-made HumanML3D-layout folder of smooth random motions (features whose joints stay finite).

    Each motion gets 1-2 whole-clip captions; when `spans` is set, clip 0 also gets a time-span caption.
    Clip i's caption kind is i % len(CAPTIONS), and its root height channel is offset by that kind, so the
    captions are learnable from the motion.
    """
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    for sub in ("new_joint_vecs", "new_joints", "texts"):
        (root / sub).mkdir(exist_ok=True)
    names, all_features = [], []
    for i in range(clips):
        name = f"{i:06d}"
        frames = int(rng.integers(*lengths)) if i else 200
        time = np.linspace(0, 1, frames)[:, None]
        phase = rng.uniform(0, 6, feature_dim)
        features = 0.1 * rng.standard_normal((1, feature_dim)) + 0.05 * np.sin(6 * time + phase)
        kind = i % len(CAPTIONS)
        features[:, 3] = 0.9 + 0.1 * kind
        features = features.astype(np.float32)
        np.save(root / "new_joint_vecs" / f"{name}.npy", features)
        np.save(root / "new_joints" / f"{name}.npy", rng.standard_normal((frames, 22, 3)).astype(np.float32))
        lines = [_text_line(CAPTIONS[kind]), _text_line(CAPTIONS[kind].replace("a person", "someone"))]
        if spans and i == 0:
            lines.append(_text_line("a person pauses", 2.0, 5.0))  # frames 40..100
        (root / "texts" / f"{name}.txt").write_text("\n".join(lines) + "\n")
        names.append(name)
        all_features.append(features)
    stacked = np.concatenate(all_features)
    np.save(root / "Mean.npy", stacked.mean(0).astype(np.float32))
    np.save(root / "Std.npy", (stacked.std(0) + 1e-3).astype(np.float32))
    test_count = max(1, int(clips * test_fraction))
    splits = {"test": names[:test_count], "val": names[test_count:test_count + 1],
              "train": names[test_count + 1:]}
    splits["all"] = names
    for split, members in splits.items():
        (root / f"{split}.txt").write_text("\n".join(members) + "\n")
    return root


@pytest.fixture
def corpus(tmp_path):
    return write_tiny_corpus(tmp_path / "corpus")


def test_segments_drop_short_clips_and_split_spans(corpus):
    data = MotionTextDataset(corpus, "all", encode=fake_encode)
    lengths = {int(np.load(p).shape[0]) for p in (corpus / "new_joint_vecs").glob("*.npy")}
    assert data.segment_length.min() >= 40
    assert sum(1 for n in lengths if n >= 40) <= len(data)
    # clip 0 (200 frames) is one whole-clip segment with 2 captions and one span segment of frames 40..100
    zero = [i for i, n in enumerate(data.segment_names) if n == "000000"]
    assert sorted(int(data.segment_length[i]) for i in zero) == [60, 200]
    span = next(i for i in zero if data.segment_length[i] == 60)
    assert [data.captions.captions[r] for r in data.segment_captions[span]] == ["a person pauses"]
    # features are normalised with Mean/Std: the span segment is frames 40..100 of the file
    raw = np.load(corpus / "new_joint_vecs" / "000000.npy")
    mean, std = np.load(corpus / "Mean.npy"), np.load(corpus / "Std.npy")
    first = data.segment_start[span]
    np.testing.assert_allclose(data.features[first:first + 60], (raw[40:100] - mean) / std, rtol=1e-5, atol=1e-5)


def test_crops_are_multiples_of_four_within_limits(corpus):
    data = MotionTextDataset(corpus, "all", encode=fake_encode)
    rng = np.random.default_rng(3)
    segments = rng.integers(0, len(data), 2000)
    offset, length = data.crop(rng, segments)
    assert (length % 4 == 0).all()
    assert length.min() >= 40 and length.max() <= 196
    assert (offset >= 0).all() and (offset + length <= data.segment_length[segments]).all()
    # T2M's coin: about a third of the crops are one unit shorter than the longest multiple of 4
    longest = np.minimum(data.segment_length[segments], 196) // 4 * 4
    shorter = (length < longest).mean()
    assert 0.25 < shorter < 0.40


def test_getitem_pads_and_masks(corpus):
    data = MotionTextDataset(corpus, "train", encode=fake_encode, seed=1)
    item = data[0]
    n = item["length"]
    assert item["motion"].shape == (196, 263)
    assert item["mask"].dtype == torch.bool and int(item["mask"].sum()) == n
    assert torch.all(item["motion"][n:] == 0) and torch.any(item["motion"][:n] != 0)
    np.testing.assert_allclose(item["text_embedding"].numpy(), fake_encode([item["caption"]])[0], atol=1e-3)


def test_caption_cache_is_built_once_and_reused(corpus):
    calls = []

    def counting_encode(texts):
        calls.append(list(texts))
        return fake_encode(texts)

    MotionTextDataset(corpus, "train", encode=counting_encode)
    assert (corpus / CACHE_FILE).is_file()
    embedded = [t for batch in calls for t in batch]
    assert "" in embedded  # the unconditional caption is always cached
    calls.clear()
    MotionTextDataset(corpus, "train", encode=counting_encode)
    assert calls == []  # everything came from the cache
    MotionTextDataset(corpus, "test", encode=counting_encode)  # only the test split's new captions are embedded
    assert all(t not in embedded for batch in calls for t in batch)
    cache = CaptionEmbeddings.load(corpus / CACHE_FILE)
    np.testing.assert_allclose(cache.lookup(CAPTIONS[:2]), fake_encode(CAPTIONS[:2]), atol=1e-3)  # float16 on disk


def test_missing_captions_without_encoder(tmp_path, corpus):
    cache_path = tmp_path / "partial.safetensors"
    CaptionEmbeddings(["", CAPTIONS[0]], fake_encode(["", CAPTIONS[0]])).save(cache_path)

    def no_encoder(texts):
        raise ImportError("no text encoder here")

    with pytest.raises(MotionError):
        ensure_caption_embeddings(CAPTIONS, cache_path, encode=no_encoder)
    data = MotionTextDataset(corpus, "all", cache_path=cache_path, encode=no_encoder, allow_missing_captions=True)
    used = {data.captions.captions[r] for rows in data.segment_captions for r in rows}
    assert used == {CAPTIONS[0]}
    with pytest.raises(MotionError, match="no cached embedding"):
        data.captions.lookup(["never seen"])


def test_batch_sampler_masks_and_resumes_exactly(corpus):
    data = MotionTextDataset(corpus, "train", encode=fake_encode)
    sampler = BatchSampler(data, batch_size=8, seed=5)
    batch = sampler.next()
    lengths = batch["lengths"]
    assert batch["motion"].shape == (8, int(lengths.max()), 263)
    assert torch.equal(batch["mask"].sum(1), lengths)
    assert torch.all(batch["motion"][~batch["mask"]] == 0)
    # every row is a contiguous window of its segment's features
    for row in range(8):
        n = int(lengths[row])
        window = batch["motion"][row, :n].numpy()
        hits = np.where(np.all(np.isclose(data.features, window[0]), axis=1))[0]
        assert any(np.allclose(data.features[h:h + n], window) for h in hits)
    state = sampler.state()
    expected = [sampler.next() for _ in range(3)]
    resumed = BatchSampler(data, batch_size=8, seed=99)
    resumed.set_state(state)
    for want in expected:
        got = resumed.next()
        assert torch.equal(got["motion"], want["motion"]) and torch.equal(got["caption_rows"], want["caption_rows"])


def test_missing_folder_is_a_user_error(tmp_path):
    with pytest.raises(MotionError):
        MotionTextDataset(tmp_path / "nowhere", "train", encode=fake_encode)
