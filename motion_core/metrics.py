"""Text-to-motion metrics: Guo et al. (2022) embedding metrics and physical plausibility metrics. numpy only.

Embedding metrics take evaluator embeddings (N, D) of motions and texts (`motion_core.models.evaluator`); all distances
are Euclidean, as in the T2M protocol (`docs/reference/humanml3d-representation.md` §7):
  FID             Fréchet distance between Gaussians fitted to two embedding sets.
  R-precision     texts and motions in shuffled batches of 32; for each text, is its own motion among the k nearest
                  of the 32 motions (top-1/2/3 hit rates).
  MM-Dist         mean distance between matched text and motion embeddings.
  Diversity       mean distance between 300 random pairs of motion embeddings.
  MultiModality   for each text, mean distance between 10 random pairs of its repeated generations.
Every metric is computed once per repeat; `mean_ci95` turns repeats into mean ± 1.96·std/√n.

Physical metrics take joints (T, 22, 3) in metres, Y-up, floor at y = 0 (the HumanML3D processing puts it there), at
`fps` frames per second, HumanML3D 22-joint order (feet = joints 10 and 11, ankles 7 and 8):
  foot_skate      fraction of frames where a foot in contact (height < 5 cm) slides faster than 2.5 cm per frame at
                  20 fps (0.5 m/s) horizontally — the skating ratio of GMD / PhysDiff-style evaluations.
  penetration     mean over frames of how far the lowest joint is below the floor (metres; 0 when nothing pierces).
  jitter          mean jerk magnitude (third time derivative of joint positions, m/s³) over joints and frames.
"""

import numpy as np

FOOT_JOINTS = (10, 11)  # left_foot, right_foot (toe base) in the HumanML3D 22-joint order
CONTACT_HEIGHT = 0.05  # metres: a foot this close to the floor counts as planted
SKATE_SPEED = 0.5  # m/s horizontal: faster than this while planted is skating (2.5 cm per frame at 20 fps)


# ---------------------------------------------------------------------------------------------- embedding metrics


def _mean_cov(x):
    x = np.asarray(x, dtype=np.float64)
    return x.mean(axis=0), np.cov(x, rowvar=False)


def _sqrtm_psd(matrix):
    """Square root of a symmetric positive semi-definite matrix by eigendecomposition (negative rounding clipped)."""
    values, vectors = np.linalg.eigh((matrix + matrix.T) / 2.0)
    return (vectors * np.sqrt(np.clip(values, 0.0, None))) @ vectors.T


def frechet_distance(mu1, cov1, mu2, cov2):
    """‖μ1 − μ2‖² + tr(Σ1 + Σ2 − 2 (Σ1 Σ2)^½).

    tr((Σ1 Σ2)^½) = tr((Σ1^½ Σ2 Σ1^½)^½) since both are PSD, so only symmetric square roots are needed (exact)."""
    root1 = _sqrtm_psd(cov1)
    middle = _sqrtm_psd(root1 @ cov2 @ root1)
    diff = np.asarray(mu1, np.float64) - np.asarray(mu2, np.float64)
    return float(diff @ diff + np.trace(cov1) + np.trace(cov2) - 2.0 * np.trace(middle))


def fid(embeddings_a, embeddings_b):
    """FID between two embedding sets (N, D) and (M, D)."""
    mu_a, cov_a = _mean_cov(embeddings_a)
    mu_b, cov_b = _mean_cov(embeddings_b)
    return max(frechet_distance(mu_a, cov_a, mu_b, cov_b), 0.0)


def pairwise_distances(a, b):
    """Euclidean distances (N, M) between rows of a (N, D) and b (M, D)."""
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    squared = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T
    return np.sqrt(np.clip(squared, 0.0, None))


def r_precision(text_embeddings, motion_embeddings, top_k=3, batch_size=32, rng=None):
    """Top-1..top_k retrieval hit rates of each text's own motion among `batch_size` motions.

    Rows i of both arrays are matched pairs. The pairs are shuffled (when `rng` is given) and cut into batches of
    `batch_size`; a trailing partial batch is dropped, as the T2M loader does.
    Returns: (top_k,) float array, entry k-1 = fraction of texts whose motion ranks within the k nearest.
    """
    n = len(text_embeddings)
    if n < batch_size:
        raise ValueError(f"r_precision needs at least batch_size={batch_size} pairs, got {n}")
    order = rng.permutation(n) if rng is not None else np.arange(n)
    hits = np.zeros(top_k)
    batches = n // batch_size
    for b in range(batches):
        index = order[b * batch_size:(b + 1) * batch_size]
        distances = pairwise_distances(text_embeddings[index], motion_embeddings[index])  # (32, 32)
        own = np.diag(distances)[:, None]
        # rank of the matched motion: how many motions are strictly nearer (ties resolved in the text's favour)
        rank = (distances < own).sum(axis=1)
        for k in range(top_k):
            hits[k] += (rank <= k).sum()
    return hits / (batches * batch_size)


def matching_distance(text_embeddings, motion_embeddings):
    """MM-Dist: mean Euclidean distance between matched text and motion embeddings (rows are pairs)."""
    diff = np.asarray(text_embeddings, np.float64) - np.asarray(motion_embeddings, np.float64)
    return float(np.linalg.norm(diff, axis=1).mean())


def diversity(motion_embeddings, pairs=300, rng=None):
    """Mean distance between `pairs` random pairs of motion embeddings (N, D); needs N ≥ pairs as T2M does."""
    rng = rng if rng is not None else np.random.default_rng(0)
    n = len(motion_embeddings)
    if n < pairs:
        raise ValueError(f"diversity needs at least {pairs} motions, got {n}")
    first = rng.choice(n, pairs, replace=False)
    second = rng.choice(n, pairs, replace=False)
    diff = np.asarray(motion_embeddings, np.float64)[first] - np.asarray(motion_embeddings, np.float64)[second]
    return float(np.linalg.norm(diff, axis=1).mean())


def multimodality(grouped_embeddings, pairs=10, rng=None):
    """Mean distance between `pairs` random pairs of generations of the same text.

    grouped_embeddings: (num_texts, repeats, D), repeats ≥ pairs.
    """
    rng = rng if rng is not None else np.random.default_rng(0)
    grouped = np.asarray(grouped_embeddings, np.float64)
    texts, repeats, _ = grouped.shape
    if repeats < 2:
        raise ValueError(f"multimodality needs at least 2 generations per text, got {repeats}")
    total = 0.0
    for t in range(texts):
        first = rng.choice(repeats, pairs, replace=repeats < pairs)
        second = rng.choice(repeats, pairs, replace=repeats < pairs)
        total += np.linalg.norm(grouped[t, first] - grouped[t, second], axis=1).mean()
    return float(total / texts)


def mean_ci95(values):
    """{"mean": m, "ci95": 1.96·std/√n} over repeats (std with ddof 0, as the T2M scripts compute it)."""
    values = np.asarray(values, np.float64)
    return {"mean": float(values.mean()), "ci95": float(1.96 * values.std() / np.sqrt(len(values)))}


# ----------------------------------------------------------------------------------------------- physical metrics


def foot_skate_ratio(joints, fps=20.0, contact_height=CONTACT_HEIGHT, skate_speed=SKATE_SPEED):
    """Fraction of frame steps where a planted foot slides.

    joints: (T, 22, 3) metres, Y-up, floor y = 0. A step t→t+1 skates when a foot is below `contact_height` at both
    frames and moves horizontally faster than `skate_speed` (m/s). Returns a float in [0, 1].
    """
    feet = np.asarray(joints, np.float64)[:, FOOT_JOINTS]  # (T, 2, 3)
    if len(feet) < 2:
        return 0.0
    planted = (feet[:-1, :, 1] < contact_height) & (feet[1:, :, 1] < contact_height)  # (T-1, 2)
    horizontal_speed = np.linalg.norm((feet[1:] - feet[:-1])[..., [0, 2]], axis=-1) * fps  # (T-1, 2)
    skating = (planted & (horizontal_speed > skate_speed)).any(axis=1)
    return float(skating.mean())


def floor_penetration(joints):
    """Mean over frames of max(0, −lowest joint height), metres. joints: (T, 22, 3), Y-up, floor y = 0."""
    lowest = np.asarray(joints, np.float64)[..., 1].min(axis=1)  # (T,)
    return float(np.clip(-lowest, 0.0, None).mean())


def jitter(joints, fps=20.0):
    """Mean jerk magnitude ‖d³x/dt³‖ in m/s³ over joints and frames. joints: (T, 22, 3) metres, T ≥ 4."""
    positions = np.asarray(joints, np.float64)
    if len(positions) < 4:
        return 0.0
    jerk = np.diff(positions, n=3, axis=0) * fps ** 3  # (T-3, 22, 3)
    return float(np.linalg.norm(jerk, axis=-1).mean())


def physical_metrics(joint_clips, fps=20.0):
    """Average foot_skate, penetration and jitter over a list of clips (each (T_i, 22, 3)), weighting clips equally."""
    return {
        "foot_skate": float(np.mean([foot_skate_ratio(j, fps) for j in joint_clips])),
        "penetration": float(np.mean([floor_penetration(j) for j in joint_clips])),
        "jitter": float(np.mean([jitter(j, fps) for j in joint_clips])),
    }
