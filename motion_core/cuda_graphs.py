"""CUDA graphs of the generator: the DDIM loop and the VAE decoding, captured once per shape and replayed.

Paper-sized denoiser calls are a few hundred tiny kernels each, so launches, not arithmetic, set the time; a captured
graph replays all of them with one launch and no Python or host synchronisation between steps (design.md,
"Performance design"). Graphs are keyed by every shape they bake in; `MotionGenerator` keeps them in `_graphs`
and drops them when it moves to another device. Inputs are static buffers, copied in before each replay; outputs
are static buffers too, valid until the next replay.
"""

import torch


def capture(device, body):
    """Run `body` once on a side stream (lazy inits, as torch.cuda.graph requires), then capture it as a graph.

    Returns (graph, what the captured call of body returned)."""
    side = torch.cuda.Stream(device)
    side.wait_stream(torch.cuda.current_stream(device))
    with torch.cuda.stream(side):
        body()
    torch.cuda.current_stream(device).wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        out = body()
    return graph, out


class LoopGraphs:
    """The DDIM loop for one (variations, guided, steps, chunk, latent tokens) key as CUDA graphs of `chunk` steps each.

    gen: the MotionGenerator whose `_denoise` steps are captured. Static inputs, copied in before the first replay:
    noise, text embeddings, guidance scale. The chunks run in order on one latent buffer; callbacks (progress,
    cancellation) run between chunks.
    """

    def __init__(self, gen, variations, guided, steps, chunk, tokens):
        self.gen, self.steps = gen, steps
        c, device = gen.config, gen.device
        self.noise = torch.zeros(variations, tokens, c.vae.latent_dim, device=device)
        self.text_emb = torch.zeros(2 * variations if guided else variations, c.text.dim, device=device)
        self.guidance = torch.zeros((), device=device)
        self.latents = torch.zeros_like(self.noise)
        self.time_tokens, self.scheduler = gen._time_tokens_for(steps)
        self.ranges = [(a, min(a + chunk, steps)) for a in range(0, steps, chunk)]
        with torch.inference_mode():
            self.graphs = [capture(device, lambda a=a, b=b: self._body(a, b))[0] for a, b in self.ranges]

    def _body(self, start, stop):
        x = self.noise if start == 0 else self.latents
        text_tok = self.gen.denoiser.cond.text_token(self.text_emb)
        x = self.gen._denoise(x, text_tok, self.time_tokens, self.scheduler, self.guidance, start, stop)
        self.latents.copy_(x)

    def run(self, noise, text_emb, guidance, progress=None, stop_if_cancelled=None):
        """Replay the loop from `noise` (V, tokens, C) -> the latents buffer (V, tokens, C).

        progress(step, total) is called after each chunk; stop_if_cancelled() before each one (it raises to stop).
        """
        self.noise.copy_(noise)
        self.text_emb.copy_(text_emb)
        self.guidance.fill_(guidance)
        for graph, (_, stop) in zip(self.graphs, self.ranges):
            if stop_if_cancelled is not None:
                stop_if_cancelled()
            graph.replay()
            if progress is not None:
                torch.cuda.current_stream(self.noise.device).synchronize()  # report steps that have really run
                progress(stop, self.steps)
        return self.latents


class DecodeGraph:
    """VAE decoding + de-normalisation + joints (`gen._decode`) for one (variations, length bucket, tokens) key."""

    def __init__(self, gen, variations, bucket, tokens):
        c, device = gen.config, gen.device
        self.latents = torch.zeros(variations, tokens, c.vae.latent_dim, device=device)
        self.lengths = torch.full((variations,), bucket, dtype=torch.long, device=device)
        with torch.inference_mode():
            self.graph, (self.joints, self.features) = capture(
                device, lambda: gen._decode(self.latents, self.lengths, bucket))

    def run(self, latents, frames):
        self.latents.copy_(latents)
        self.lengths.fill_(frames)
        self.graph.replay()
        return self.joints, self.features  # static buffers: the caller copies them to the host at once
