"""Caption paraphrases in HumanML3D style (the count words and the left/right swap for mirrored clips come from
motion_core.data.captions).

Each action kind supplies verb phrases ("walks forward slowly") and, for locomotion, gerunds ("walking forward")
so layered clips can say "waves while walking". Subjects and phrase templates are combined, so every kind has well
over 20 distinct paraphrases; `caption_variants` lists them all and `sample_captions` draws a few per clip.
"""

import re

import numpy as np

from motion_core.data.captions import COUNT_WORDS, NUMBER_WORDS, swap_left_right  # noqa: F401 (re-exported)

SUBJECTS = ("a person", "someone", "a man", "a woman", "the person", "somebody", "a human", "the man", "the woman",
            "a figure")
# HumanML3D captions mostly open with "a person"; keep that the most common subject.
_SUBJECT_CUMULATIVE = np.cumsum([0.40, 0.12, 0.12, 0.08, 0.10, 0.04, 0.04, 0.04, 0.03, 0.03])


def pick_subject(rng) -> str:
    """A caption subject, "a person" most often."""
    return SUBJECTS[min(int(np.searchsorted(_SUBJECT_CUMULATIVE, rng.random() * _SUBJECT_CUMULATIVE[-1])),
                        len(SUBJECTS) - 1)]

SPEED_WORDS = {
    "slow": ("slowly", "at a slow pace", "leisurely", "gently"),
    "normal": ("", "", "at a normal pace", "steadily"),
    "fast": ("quickly", "fast", "briskly", "at a quick pace"),
}

def tidy(text: str) -> str:
    """Collapse double spaces / stray spaces before punctuation and end with a full stop."""
    text = re.sub(r"\s+", " ", text).strip()
    text = re.sub(r"\s+([,.])", r"\1", text)
    return text.rstrip(".,") + "."


def fill(template: str, words: dict) -> str:
    """Fill {slots} of a phrase template; missing slots become empty."""
    return re.sub(r"\{(\w+)\}", lambda m: str(words.get(m.group(1), "")), template)


def caption_variants(phrases, words: dict) -> list[str]:
    """Every subject x phrase combination for one clip's parameters (deduplicated, in a stable order)."""
    out, seen = [], set()
    for phrase in phrases:
        body = fill(phrase, words)
        for subject in SUBJECTS:
            text = tidy(f"{subject} {body}")
            if text not in seen:
                seen.add(text)
                out.append(text)
    return out


def sample_captions(rng, phrases, words: dict, count=3) -> list[str]:
    """A few distinct captions for one clip: different phrases with different subjects."""
    order = rng.permutation(len(phrases))
    out = []
    for i in order[:count]:
        subject = pick_subject(rng)
        out.append(tidy(f"{subject} {fill(phrases[i], words)}"))
    return out


def speed_word(rng, speed_class: str) -> str:
    return SPEED_WORDS[speed_class][int(rng.integers(len(SPEED_WORDS[speed_class])))]
