"""TMR-style contrastive text–motion encoder used to evaluate generated motion (FID, R-precision, MM-Dist, ...).

The T2M evaluator's weights (Guo et al. 2022) cannot be had, so we train our own on the corpus's train split, in the
spirit of TMR (Petrovich et al. 2023): a transformer motion encoder and a text encoder map into one embedding space,
trained with a symmetric InfoNCE loss in which in-batch "negatives" whose captions nearly mean the same thing are
left out (procedural captions repeat a lot, and pushing apart two "walks forward" clips would teach noise).

Text side: the frozen all-MiniLM-L6-v2 sentence embedding (384-d, the generator's own text encoder, cached per caption
by `motion_core.data.dataset`) through a small MLP. Motion side: normalised HumanML3D features (B, T, 263) →
linear → learned positions + a summary token → pre-norm transformer → the summary token → linear. Both embeddings are
L2-normalised, so the Euclidean distances the metrics use lie in [0, 2]. Caveat: the evaluator reads the same
sentence embedding the generators are conditioned on, which may favour them on R-precision more than the T2M
evaluator's separate GloVe/GRU text side would; numbers are comparable between our models, not with papers.
"""

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import nn

from motion_core.errors import MotionError
from motion_core.models.config import load_dataclass

WEIGHTS_FILE = "evaluator.safetensors"
CONFIG_FILE = "evaluator_config.json"


@dataclass
class EvaluatorConfig:
    feature_dim: int = 263  # HumanML3D features per frame
    text_dim: int = 384  # all-MiniLM-L6-v2 sentence embedding
    width: int = 256  # transformer width of the motion encoder
    layers: int = 4
    heads: int = 4
    ff: int = 1024
    dropout: float = 0.1
    embed_dim: int = 256  # shared text/motion embedding size
    max_frames: int = 200  # learned positions; the loaders cap clips at 196 frames
    temperature: float = 0.1  # InfoNCE softmax temperature (TMR uses 0.1)
    same_caption_similarity: float = 0.85  # caption cosine above which a pair is not used as a negative

    @classmethod
    def from_dict(cls, values):
        return load_dataclass(cls, values, "evaluator")


class MotionTextEvaluator(nn.Module):
    def __init__(self, config: EvaluatorConfig = None):
        super().__init__()
        self.config = config = config or EvaluatorConfig()
        self.motion_in = nn.Linear(config.feature_dim, config.width)
        self.summary_token = nn.Parameter(torch.zeros(1, 1, config.width))
        self.positions = nn.Parameter(torch.randn(1, config.max_frames + 1, config.width) * 0.02)
        layer = nn.TransformerEncoderLayer(config.width, config.heads, config.ff, config.dropout,
                                           activation="gelu", batch_first=True, norm_first=True)
        self.motion_encoder = nn.TransformerEncoder(layer, config.layers, enable_nested_tensor=False)
        self.motion_out = nn.Sequential(nn.LayerNorm(config.width), nn.Linear(config.width, config.embed_dim))
        self.text_mlp = nn.Sequential(
            nn.Linear(config.text_dim, 512), nn.GELU(), nn.Dropout(config.dropout), nn.Linear(512, config.embed_dim))

    def encode_motion(self, features, mask):
        """features: (B, T, 263) normalised, mask: (B, T) bool (True = real frame) -> (B, embed_dim), unit length."""
        batch, frames, _ = features.shape
        if frames > self.config.max_frames:
            raise ValueError(f"clip of {frames} frames exceeds max_frames={self.config.max_frames}")
        x = self.motion_in(features)  # (B, T, W)
        x = torch.cat([self.summary_token.expand(batch, -1, -1), x], dim=1) + self.positions[:, :frames + 1]
        keep = torch.cat([torch.ones(batch, 1, dtype=torch.bool, device=mask.device), mask.bool()], dim=1)
        x = self.motion_encoder(x, src_key_padding_mask=~keep)  # (B, T+1, W)
        return F.normalize(self.motion_out(x[:, 0]).float(), dim=-1)

    def encode_text(self, text_embeddings):
        """text_embeddings: (B, 384) sentence embeddings -> (B, embed_dim), unit length."""
        return F.normalize(self.text_mlp(text_embeddings).float(), dim=-1)

    def forward(self, features, mask, text_embeddings):
        """The training loss (forward, so DistributedDataParallel sees the call): see `loss`."""
        return self.loss(features, mask, text_embeddings)

    def loss(self, features, mask, text_embeddings):
        """Symmetric InfoNCE over the batch; returns (loss, {"nce": ..., "acc": top-1 text→motion accuracy})."""
        motion = self.encode_motion(features, mask)
        text = self.encode_text(text_embeddings)
        logits = text @ motion.T / self.config.temperature  # (B, B)
        captions = F.normalize(text_embeddings.float(), dim=-1)
        near_duplicate = captions @ captions.T > self.config.same_caption_similarity
        eye = torch.eye(len(logits), dtype=torch.bool, device=logits.device)
        logits = logits.masked_fill(near_duplicate & ~eye, float("-inf"))
        target = torch.arange(len(logits), device=logits.device)
        nce = (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2
        accuracy = (logits.argmax(dim=1) == target).float().mean()
        return nce, {"nce": nce.detach(), "acc": accuracy.detach()}

    # ------------------------------------------------------------------------------------------ saving / loading

    def save_pretrained(self, directory, dtype=torch.float32):
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        tensors = {k: v.detach().to("cpu", dtype).contiguous() for k, v in self.state_dict().items()}
        save_file(tensors, str(directory / WEIGHTS_FILE))
        (directory / CONFIG_FILE).write_text(json.dumps(asdict(self.config), indent=2) + "\n")

    @classmethod
    def from_pretrained(cls, directory, device="cpu"):
        directory = Path(directory)
        if not (directory / WEIGHTS_FILE).is_file() or not (directory / CONFIG_FILE).is_file():
            raise MotionError(f"no evaluator in {directory} (needs {WEIGHTS_FILE} and {CONFIG_FILE}); "
                              "train one with `motion-mamba train evaluator`")
        model = cls(EvaluatorConfig.from_dict(json.loads((directory / CONFIG_FILE).read_text())))
        state = {k: v.float() for k, v in load_file(str(directory / WEIGHTS_FILE)).items()}
        model.load_state_dict(state)
        return model.to(device).eval()
