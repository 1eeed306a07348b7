"""Caption paraphrases in HumanML3D style (the count words and the left/right swap for mirrored clips come from
motion_core.data.captions).

A single-action caption is  subject + verb phrase [+ context | + place] [+ time]:
- subject: "a person" most often, as in HumanML3D, else a plain one ("someone", "a woman") or one of many people
  descriptions ("an old man", "a nurse", "a teenage girl");
- verb phrase: one of the kind's phrases, synonyms of its main verb with its sides, counts and speeds filled in
  ("bows politely", "takes a bow");
- context: one of the kind's own purpose, object or style clauses ("to a crowd", "in a martial arts style");
- place: a path for kinds that travel ("down the hallway"), a spot for the others ("in the kitchen");
- time: when ("in the morning").
Prompts name roles, places and reasons ("a nurse bows to a patient"); training on such framing teaches the text
encoder's embedding to carry the verb through it. Framing words never name a side: a mirrored clip swaps every
"left"/"right" in its captions (swap_left_right), so sides come only from the kind's own slots.

Locomotion kinds also give gerunds ("walking forward") so layered clips can say "waves while walking".
`caption_variants` lists every subject x phrase combination; `sample_captions` draws a few framed captions per clip.
"""

import itertools
import re

import numpy as np

from motion_core.data.captions import (COUNT_WORDS, NUMBER_WORDS, SPEED_ADJECTIVES, SPEED_WORDS,  # noqa: F401
                                    swap_left_right)  # (re-exported)

PLAIN_SUBJECTS = ("someone", "a man", "a woman", "the person", "somebody", "a human", "the man", "the woman",
                  "a figure")
# Who moves, said many ways. No word here names an action or a side, and none hints at one action more than another.
PEOPLE = (
    "a young man", "a young woman", "an old man", "an old woman", "an elderly man", "an elderly woman",
    "an elderly person", "a middle-aged man", "a middle-aged woman", "a young person", "an older person", "an adult",
    "a boy", "a girl", "a child", "a little boy", "a little girl", "a teenager", "a teenage boy", "a teenage girl",
    "a young girl", "a young boy", "a lady", "a gentleman", "a guy", "a tall man", "a tall woman", "a short man",
    "a short woman", "a slim woman", "a heavyset man", "a bearded man", "a woman with long hair", "a man in a suit",
    "a woman in a dress", "a man wearing a hat", "a woman in sportswear", "a person in a hoodie", "a man in jeans",
    "a woman in a uniform", "an athlete", "a dancer", "a soldier", "a worker", "a student", "a teacher", "a nurse",
    "a doctor", "a police officer", "a firefighter", "a chef", "a waiter", "a businessman", "a businesswoman",
    "an office worker", "a construction worker", "a farmer", "a coach", "a gymnast", "an actor", "an actress",
    "a musician", "a mother", "a father", "a grandmother", "a grandfather", "a student athlete", "a volunteer",
    "a character", "a game character", "a robot", "the athlete", "the dancer", "the child", "the old man",
    "the old woman", "the boy", "the girl", "the young man", "the young woman",
)
SUBJECTS = ("a person",) + PLAIN_SUBJECTS + PEOPLE
# HumanML3D captions mostly open with "a person": keep it the most common subject, then the plain ones.
PERSON_SHARE, PLAIN_SHARE = 0.35, 0.35

# Where an action happens: a path for kinds that travel, a spot for those that stay (ActionSpec.place).
PLACES = {
    "path": ("through the living room", "down the hallway", "through the park", "along the sidewalk", "across the yard",
             "down a corridor", "along a path", "across an open field", "on a track", "along the beach",
             "through the office", "across a parking lot", "down the road", "in the park", "through the forest",
             "across the gym", "down a trail", "along the shore", "across a bridge", "on the grass",
             "through the kitchen", "along a country road", "across the hall", "over the lawn"),
    "spot": ("in the living room", "in a park", "on a stage", "in the gym", "in the kitchen", "outside", "indoors",
             "in an empty room", "in the backyard", "at the beach", "in the middle of the room", "in front of a mirror",
             "on the grass", "in the office", "on the sidewalk", "in a studio", "on a field", "in the street",
             "by the window", "in the garden", "at home", "in a hallway", "on a rooftop", "in a classroom"),
}
TIMES = ("in the morning", "in the evening", "at night", "during a break", "on a sunny day", "at the end of the day",
         "early in the morning", "late at night", "in the afternoon", "on a cold day", "on a rainy day", "at noon")
# How often a caption gets each framing; most stay plain, as HumanML3D's do.
CONTEXT_CHANCE, PLACE_CHANCE, TIME_CHANCE = 0.35, 0.2, 0.1


def pick_subject(rng) -> str:
    """A caption subject: "a person" most often, then the plain ones, then people descriptions."""
    roll = rng.random()
    if roll < PERSON_SHARE:
        return "a person"
    pool = PLAIN_SUBJECTS if roll < PERSON_SHARE + PLAIN_SHARE else PEOPLE
    return pool[int(rng.integers(len(pool)))]


def _pick(rng, options):
    return options[int(rng.integers(len(options)))]


def tidy(text: str) -> str:
    """Collapse double spaces / stray spaces before punctuation and end with a full stop."""
    text = re.sub(r"\s+", " ", text).strip()
    text = re.sub(r"\s+([,.])", r"\1", text)
    return text.rstrip(".,") + "."


SLOT = re.compile(r"\{(\w+)\}")  # a {slot} of a phrase template


def fill(template: str, words: dict, rng=None) -> str:
    """Fill {slots} of a phrase template; missing slots become empty.

    A slot's value is a word or a tuple of alternatives ("slowly", "at a relaxed pace", ...): with `rng` each slot
    of this template draws one of them, without it the first is taken."""
    def word(match):
        value = words.get(match.group(1), "")
        if isinstance(value, tuple):
            value = value[int(rng.integers(len(value)))] if rng is not None else value[0]
        return str(value)

    return SLOT.sub(word, template)


def _spelled_out(words: dict):
    """Every way to fill `words`: one dict of plain words per combination of the alternatives."""
    names = [name for name, value in words.items() if isinstance(value, tuple)]
    for choice in itertools.product(*(words[name] for name in names)):
        yield {**words, **dict(zip(names, choice))}


def caption_variants(phrases, words: dict) -> list[str]:
    """Every subject x phrase x alternative-word combination for one clip's parameters (deduplicated, in a stable
    order; no framing)."""
    out, seen = [], set()
    for phrase in phrases:
        slots = set(SLOT.findall(phrase))
        for plain in _spelled_out({name: value for name, value in words.items() if name in slots}):
            body = fill(phrase, plain)
            for subject in SUBJECTS:
                text = tidy(f"{subject} {body}")
                if text not in seen:
                    seen.add(text)
                    out.append(text)
    return out


def frame(rng, body: str, contexts=(), places=(), context_chance=CONTEXT_CHANCE, place_chance=PLACE_CHANCE,
          time_chance=TIME_CHANCE) -> str:
    """A filled verb phrase with, now and then, a context or a place (never both: "to the door in a park" reads
    badly), then now and then a time. contexts: filled clauses of the kind; places: PLACES[spec.place] or ()."""
    roll = rng.random()
    if contexts and roll < context_chance:
        body = f"{body} {_pick(rng, contexts)}"
    elif places and roll < context_chance + place_chance:
        body = f"{body} {_pick(rng, places)}"
    if rng.random() < time_chance:
        body = f"{body} {_pick(rng, TIMES)}"
    return body


def sample_captions(rng, phrases, words: dict, count=5, contexts=(), places=()) -> list[str]:
    """A few captions for one clip: different phrases, each with its own subject and framing.

    contexts: the kind's context templates (filled here with the same words); places: a PLACES table or ().
    """
    contexts = [fill(c, words, rng) for c in contexts]
    order = rng.permutation(len(phrases))
    out = []
    for i in order[:count]:
        subject = pick_subject(rng)
        out.append(tidy(f"{subject} {frame(rng, fill(phrases[i], words, rng), contexts, places)}"))
    return out

