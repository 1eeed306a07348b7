"""Captions: what a motion shows, said in words, and the HumanML3D text-line format.

Three jobs, all numpy-only:
1. `describe_motion(joints)` measures speed, travel direction, turning and jumps from the root and the feet, and
   `trait_clauses` / `enrich_captions` turn those measurements into caption text (terse CMU descriptions get the
   detail they lack; an augmented clip gets captions that match what the augmentation did to it).
2. `swap_left_right(text)` swaps side words for mirrored clips (HumanML3D's `M` files).
3. `tag_tokens` / `format_text_line` / `parse_text_line`: the `caption#tok/POS tok/POS ...#start#end` line format of
   HumanML3D `texts/*.txt`. HumanML3D tags with spaCy (`en_core_web_sm`), lemmatizes NOUN and VERB tokens except
   "left", and drops non-alphabetic tokens; a small rule-based tagger here does the same for our motion vocabulary.

Conventions: joints (T, 22, 3) in metres, Y-up, +Z forward, left = +X, 20 fps, HumanML3D 22-joint order. A positive
yaw (about +Y) turns +Z toward +X, i.e. a turn to the person's left.
"""

import re
from dataclasses import dataclass

import numpy as np

# HumanML3D joint indices used here (22-joint SMPL order).
PELVIS, L_HIP, R_HIP = 0, 1, 2
L_ANKLE, R_ANKLE, L_FOOT, R_FOOT = 7, 8, 10, 11
L_SHOULDER, R_SHOULDER = 16, 17
FOOT_JOINTS = (L_ANKLE, R_ANKLE, L_FOOT, R_FOOT)

# ---------------------------------------------------------------------------------------------------------------
# 1. Motion traits
# ---------------------------------------------------------------------------------------------------------------

# Horizontal root speed bands in m/s (human gait: slow walk ~0.8, walk ~1.3, jog ~2.5, run > 3).
STILL_SPEED = 0.2
SLOW_SPEED = 0.9
BRISK_SPEED = 1.7
RUN_SPEED = 2.8
# A jump: every foot joint above the floor by this much for at least JUMP_MIN_FRAMES (running flight is shorter).
JUMP_CLEARANCE_M = 0.05
JUMP_MIN_FRAMES = 4


@dataclass
class MotionTraits:
    """What a clip does, measured from root and feet.

    speed_mps: mean horizontal root speed; distance_m: horizontal path length; travel: "forward", "backward",
    "left", "right" (sideways, the person's own left/right) or "in place"; turn_deg: net change of facing, positive =
    to the left; jumps: number of airborne phases; duration_s.
    """

    speed_mps: float
    distance_m: float
    travel: str
    turn_deg: float
    jumps: int
    duration_s: float


def facing_yaw(joints):
    """Facing angle per frame from hips and shoulders.

    joints: (T, 22, 3). Returns (T,) radians, unwrapped; 0 = facing +Z, positive = turned toward +X (left).
    """
    across = (joints[:, R_HIP] - joints[:, L_HIP]) + (joints[:, R_SHOULDER] - joints[:, L_SHOULDER])  # points right
    # forward = cross(+Y, across) = (across_z, 0, -across_x)
    forward_x, forward_z = across[:, 2], -across[:, 0]
    return np.unwrap(np.arctan2(forward_x, forward_z))


def describe_motion(joints, fps=20.0):
    """Measure speed, travel direction, turning and jumps of one clip.

    joints: (T, 22, 3) metres, Y-up, +Z forward. Returns MotionTraits.
    """
    joints = np.asarray(joints, dtype=np.float64)
    frames = joints.shape[0]
    duration = frames / fps
    if frames < 2:
        return MotionTraits(0.0, 0.0, "in place", 0.0, 0, duration)
    root_xz = joints[:, PELVIS][:, [0, 2]]
    step = np.diff(root_xz, axis=0)  # (T-1, 2)
    distance = float(np.linalg.norm(step, axis=1).sum())
    # Net displacement over duration, not path length: swaying in place must not read as walking.
    net = float(np.linalg.norm(root_xz[-1] - root_xz[0]))
    speed = max(net, 0.5 * distance) / max(duration, 1e-6)

    yaw = facing_yaw(joints)
    turn_deg = float(np.degrees(yaw[-1] - yaw[0]))

    travel = "in place"
    if speed >= STILL_SPEED:
        # Velocity in the body's own frame: forward = (sin yaw, cos yaw), left = (cos yaw, -sin yaw) in (x, z).
        mid_yaw = 0.5 * (yaw[1:] + yaw[:-1])
        forward_part = (step[:, 0] * np.sin(mid_yaw) + step[:, 1] * np.cos(mid_yaw)).sum()
        left_part = (step[:, 0] * np.cos(mid_yaw) - step[:, 1] * np.sin(mid_yaw)).sum()
        if abs(forward_part) >= abs(left_part):
            travel = "forward" if forward_part > 0 else "backward"
        else:
            travel = "left" if left_part > 0 else "right"

    return MotionTraits(speed, distance, travel, turn_deg, count_jumps(joints, fps), duration)


def rolling_min(values, radius):
    """Minimum over a window of +-radius frames. values: (T,) -> (T,)."""
    padded = np.pad(values, radius, mode="edge")
    return np.lib.stride_tricks.sliding_window_view(padded, 2 * radius + 1).min(axis=-1)


def count_jumps(joints, fps=20.0):
    """Airborne phases: all foot joints clear of the floor for at least JUMP_MIN_FRAMES frames.

    joints: (T, 22, 3). The floor is local (lowest foot within +-0.6 s): real captures drift by centimetres over a
    trial (uneven floors, calibration), which would otherwise read as feet leaving the ground.
    """
    lowest_foot = joints[:, FOOT_JOINTS, 1].min(axis=1)  # (T,)
    floor = rolling_min(lowest_foot, int(round(0.6 * fps)))
    airborne = lowest_foot > floor + JUMP_CLEARANCE_M
    # Also require the pelvis to rise: lifting a leg while sitting or kneeling keeps the pelvis low.
    pelvis_y = joints[:, PELVIS, 1]
    airborne &= pelvis_y > np.median(pelvis_y) + 0.03
    # Count airborne runs that take off and land inside the clip (a run touching either end is a cut, or floor
    # drift at the edge of the rolling window).
    flags = np.concatenate([[0], airborne.astype(np.int8), [0]])
    edges = np.flatnonzero(np.diff(flags))  # alternating take-off and landing frame indices
    takeoffs, landings = edges[0::2], edges[1::2]
    return int(np.sum((landings - takeoffs >= JUMP_MIN_FRAMES) & (takeoffs > 0) & (landings < len(airborne))))


# How a count is said: "waves three times" (COUNT_WORDS), "takes three steps" (NUMBER_WORDS). Also used by the
# procedural captions.
COUNT_WORDS = {1: "once", 2: "twice", 3: "three times", 4: "four times", 5: "five times", 6: "six times",
               7: "seven times", 8: "eight times", 9: "nine times", 10: "ten times"}
NUMBER_WORDS = {1: "one", 2: "two", 3: "three", 4: "four", 5: "five", 6: "six", 7: "seven", 8: "eight", 9: "nine",
                10: "ten"}
# More measured jumps than this are said as "several times".
MAX_COUNTED_JUMPS = 5


# How a gait's speed is said, per speed class. Every slow / fast adverb here is one the prompt reader
# (motion.action_prompt) reads as that speed, so what the model is taught is what the action check asks for; the
# families are wide because users say speed many ways ("at a relaxed pace", "in a hurry"). "" (said most often for
# a normal pace) leaves the speed unsaid, as most HumanML3D captions do.
SPEED_WORDS = {
    "slow": ("slowly", "very slowly", "at a slow pace", "leisurely", "at a leisurely pace", "at a relaxed pace",
             "at an easy pace", "at a gentle pace", "unhurriedly", "in no hurry", "lazily", "calmly", "gently",
             "taking their time"),
    "normal": ("", "", "", "", "at a normal pace", "steadily", "at a steady pace", "at an ordinary pace",
               "at a moderate pace", "at a regular pace"),
    "fast": ("quickly", "very quickly", "fast", "briskly", "at a brisk pace", "at a quick pace", "at a rapid pace",
             "rapidly", "hurriedly", "in a hurry", "swiftly", "speedily", "hastily"),
}
# The same as adjectives ("goes for a brisk walk"); "" for a normal pace.
SPEED_ADJECTIVES = {"slow": ("slow", "leisurely", "unhurried", "relaxed", "gentle"),
                    "normal": ("", "", "steady", "normal", "regular"),
                    "fast": ("fast", "brisk", "quick", "hurried", "rapid")}
RUNNING_SPEED_WORDS = ("very fast", "rapidly", "at high speed")


def _speed_adverb(speed, rng):
    if speed >= RUN_SPEED:
        return str(rng.choice(RUNNING_SPEED_WORDS))
    speed_class = "slow" if speed < SLOW_SPEED else ("normal" if speed < BRISK_SPEED else "fast")
    return str(rng.choice(SPEED_WORDS[speed_class]))


def _travel_clause(traits, rng, participle):
    if traits.travel == "in place":
        return None
    verb = "moving" if participle else "moves"
    if traits.speed_mps >= RUN_SPEED:
        verb = "running" if participle else "runs"
    elif traits.speed_mps >= BRISK_SPEED and traits.travel == "forward":
        verb = "jogging" if participle else "jogs"
    elif traits.travel == "forward":
        verb = "walking" if participle else "walks"
    where = {
        "forward": "forward",
        "backward": "backwards",
        "left": str(rng.choice(["sideways to the left", "to the left", "sideways to their left"])),
        "right": str(rng.choice(["sideways to the right", "to the right", "sideways to their right"])),
    }[traits.travel]
    adverb = _speed_adverb(traits.speed_mps, rng)
    return " ".join(part for part in (verb, where, adverb) if part)


def _turn_clause(traits, rng, participle):
    angle = abs(traits.turn_deg)
    if angle < 35:
        return None
    side = "left" if traits.turn_deg > 0 else "right"
    turn = "turning" if participle else "turns"
    if angle >= 320:
        return f"{turn} in a full circle to the {side}"
    if angle >= 140:
        return str(rng.choice([f"{turn} around", f"{turn} around to the {side}", f"{turn} to face the other way"]))
    if 65 <= angle <= 115:
        return str(rng.choice([f"{turn} {side}", f"{turn} ninety degrees to the {side}", f"{turn} to the {side}"]))
    return str(rng.choice([f"{turn} {side}", f"{turn} slightly to the {side}" if angle < 65 else f"{turn} {side}"]))


def _jump_clause(traits, participle):
    if traits.jumps == 0:
        return None
    verb = "jumping" if participle else "jumps"
    said = COUNT_WORDS[traits.jumps] if traits.jumps <= MAX_COUNTED_JUMPS else "several times"
    return f"{verb} {said}"


def trait_clauses(traits, rng, participle=False):
    """Verb phrases for what the clip shows, e.g. ["walks forward slowly", "turns left"].

    participle=True gives "-ing" forms to attach to another caption ("..., turning left").
    """
    clauses = [
        _travel_clause(traits, rng, participle),
        _turn_clause(traits, rng, participle),
        _jump_clause(traits, participle),
    ]
    return [c for c in clauses if c]


SUBJECTS = ["a person", "someone", "a man", "the person", "a woman", "a figure"]


def join_clauses(clauses, rng):
    """"a, b and c" or "a, then b" (order is the order measured, not strictly temporal)."""
    if len(clauses) == 1:
        return clauses[0]
    joiner = " and " if rng.random() < 0.5 else ", then "
    return ", ".join(clauses[:-1]) + joiner + clauses[-1]


def enrich_captions(base_captions, traits, rng, count=3):
    """Captions for one clip: the given ones, the given ones with measured detail, and one from the motion alone.

    base_captions: list of str (e.g. from a CMU description, "a person walks"); traits: MotionTraits; rng:
    np.random.Generator. Returns up to `count` distinct captions (at least one).
    """
    captions = []
    base = [c for c in base_captions if c]
    finite = trait_clauses(traits, rng, participle=False)
    participles = trait_clauses(traits, rng, participle=True)
    if base:
        captions.append(base[0])
    if base and participles:
        first = str(rng.choice(base))
        captions.append(f"{first}, {join_clauses(participles, rng)}")
    if finite:
        captions.append(f"{rng.choice(SUBJECTS)} {join_clauses(finite, rng)}")
    for extra in base[1:]:
        captions.append(extra)
    if not captions:
        captions.append(f"{rng.choice(SUBJECTS)} stands in place")
    unique = list(dict.fromkeys(captions))
    return unique[:count]


# ---------------------------------------------------------------------------------------------------------------
# 2. Mirroring
# ---------------------------------------------------------------------------------------------------------------

SIDE_SWAPS = {
    "left": "right",
    "right": "left",
    "leftward": "rightward",
    "rightward": "leftward",
    "leftwards": "rightwards",
    "rightwards": "leftwards",
    "clockwise": "counterclockwise",
    "counterclockwise": "clockwise",
    "anticlockwise": "clockwise",
    "counter-clockwise": "clockwise",
    "anti-clockwise": "clockwise",
}
_SIDE_PATTERN = re.compile(
    r"\b(" + "|".join(sorted((re.escape(w) for w in SIDE_SWAPS), key=len, reverse=True)) + r")\b", re.IGNORECASE
)


def swap_left_right(text):
    """Swap side words for a mirrored clip, keeping capitalisation ("Left hand up" -> "Right hand up")."""

    def replace(match):
        word = match.group(0)
        swapped = SIDE_SWAPS[word.lower()]
        if word.isupper():
            return swapped.upper()
        if word[0].isupper():
            return swapped[0].upper() + swapped[1:]
        return swapped

    return _SIDE_PATTERN.sub(replace, text)


# ---------------------------------------------------------------------------------------------------------------
# 3. POS tags and the text-line format
# ---------------------------------------------------------------------------------------------------------------

# Closed word classes (Universal POS tags, as spaCy's en_core_web_sm uses them).
CLOSED_CLASSES = {
    "DET": "a an the this that these those his her their its my your our each every some any another both all no",
    "PRON": "he she it they them him i you we us me someone somebody something anyone everyone himself herself "
    "themselves itself one who what",
    "ADP": "to from with into onto on in at over under of for by about around through across along up down behind "
    "toward towards near like off out upon between against above below after before during while",
    "CCONJ": "and or but nor",
    "SCONJ": "as if because until when although though whilst whether",
    "AUX": "is are was were be been being am has have had do does did can could will would should may might must",
    "PART": "not",
    "NUM": "zero one two three four five six seven eight nine ten eleven twelve twenty thirty forty fifty sixty "
    "ninety hundred half",
    "ADV": "then forward forwards backward backwards sideways back away again quickly slowly briefly fast very "
    "together apart slightly once twice still also here there just straight upward upwards downward downwards "
    "around ahead high low quite really rapidly steadily briskly leisurely gently repeatedly finally first "
    "clockwise counterclockwise anticlockwise",
}
POS_OF_WORD = {}
for _pos, _words in CLOSED_CLASSES.items():
    for _word in _words.split():
        POS_OF_WORD.setdefault(_word, _pos)

# Base forms of verbs in motion captions.
VERBS = set(
    """walk run jog sprint sneak march limp skip step jump hop leap turn spin rotate twist wave clap point punch throw
    raise lift lower stretch kick squat lunge kneel sit stand bow dance look stumble fall trip climb crawl move go come
    reach grab pick put place hold carry push pull swing shake nod bend lean rock balance dribble shoot strike wash
    scoop rise dangle hang sway stop start begin continue perform do make take get keep stay pause circle cross
    extend fold flap wipe stomp tiptoe shuffle stride pace roll drop catch toss pivot slide glide twirl shift land
    brush scratch touch tap salute celebrate cheer greet swim fly hit box fight duck dodge avoid kneel crouch
    exercise warm rest wait arch flex wiggle hug mimic imitate play use act appear seem try""".split()
)
ADJECTIVES = set(
    """left right slow fast quick big small large little high low long short full half straight circular wide
    narrow other same several few many forward backward sideways uneven flat expressive exaggerated brisk light
    heavy small gentle energetic tired happy angry sad excited careful casual normal fine little upper lower
    outstretched raised open closed single both double quarter""".split()
)
IRREGULAR_LEMMAS = {
    "ran": "run", "running": "run", "sat": "sit", "sitting": "sit", "stood": "stand", "went": "go", "goes": "go",
    "does": "do", "did": "do", "made": "make", "took": "take", "got": "get", "threw": "throw", "thrown": "throw",
    "fell": "fall", "fallen": "fall", "held": "hold", "swung": "swing", "knelt": "kneel", "leapt": "leap",
    "rose": "rise", "risen": "rise", "shook": "shake", "stepping": "step", "stopped": "stop", "stopping": "stop",
    "hopped": "hop", "hopping": "hop", "skipped": "skip", "skipping": "skip", "clapped": "clap", "clapping": "clap",
    "swimming": "swim", "hitting": "hit", "putting": "put", "getting": "get", "spinning": "spin", "spun": "spin",
    "jogging": "jog", "jogged": "jog", "tapping": "tap", "tapped": "tap", "dropping": "drop", "dropped": "drop",
    "people": "person", "men": "man", "women": "woman", "feet": "foot", "knees": "knee", "arms": "arm",
    "legs": "leg", "hands": "hand", "steps": "step", "circles": "circle", "times": "time",
}


def lemmatize(word):
    """Base form by suffix rules ("walks" -> "walk", "dancing" -> "dance"); unknown words pass through."""
    if word in IRREGULAR_LEMMAS:
        return IRREGULAR_LEMMAS[word]
    candidates = []
    if word.endswith("ies") and len(word) > 4:
        candidates.append(word[:-3] + "y")
    if word.endswith("es"):
        candidates.append(word[:-2])
    if word.endswith("s") and not word.endswith("ss"):
        candidates.append(word[:-1])
    if word.endswith("ing") and len(word) > 5:
        stem = word[:-3]
        candidates += [stem, stem + "e", stem[:-1] if len(stem) > 2 and stem[-1] == stem[-2] else stem]
    if word.endswith("ed") and len(word) > 4:
        stem = word[:-2]
        candidates += [stem, word[:-1], stem[:-1] if len(stem) > 2 and stem[-1] == stem[-2] else stem]
    for candidate in candidates:
        if candidate in VERBS:
            return candidate
    if word.endswith("s") and not word.endswith("ss") and len(word) > 3 and word not in POS_OF_WORD:
        return word[:-1]  # plural noun
    return word


def tokenize(text):
    """Lower-cased alphabetic words (HumanML3D drops numbers and punctuation from the token list)."""
    return re.findall(r"[a-z]+", text.lower())


def tag_tokens(text):
    """Rule-based POS tags for a caption.

    Returns list of (lemma, POS) over alphabetic words: closed classes by lexicon, verbs by lemma and position,
    "left"/"right" as ADJ before a noun and ADV otherwise (and never lemmatized), everything else NOUN, except -ly
    words (ADV) and known adjectives.
    """
    words = tokenize(text)
    tagged = []
    for index, word in enumerate(words):
        previous = tagged[-1][1] if tagged else None
        following = words[index + 1] if index + 1 < len(words) else None
        lemma = lemmatize(word)
        if word in ("left", "right"):
            nounish = following is not None and following not in POS_OF_WORD and lemmatize(following) not in VERBS
            tagged.append((word, "ADJ" if nounish else "ADV"))
            continue
        if word in POS_OF_WORD and not (word in ("back", "forward", "up", "down", "around") and previous == "DET"):
            # "one" after a determiner or adjective is a pronoun-like noun ("the other one"); keep lexicon otherwise.
            tagged.append((word, POS_OF_WORD[word]))
            continue
        # A verb-like word right after a determiner, adjective, number or verb is an object ("does a jump", "takes
        # two steps", "walks steps"); "-ing" forms after a verb stay verbs ("starts walking").
        after_verb = previous == "VERB" and not word.endswith("ing")
        if lemma in VERBS and previous not in ("DET", "ADJ", "NUM") and not after_verb:
            tagged.append((lemma, "VERB"))
            continue
        if word.endswith("ly") and len(word) > 4:
            tagged.append((word, "ADV"))
            continue
        if word in ADJECTIVES:
            tagged.append((word, "ADJ"))
            continue
        tagged.append((lemma, "NOUN"))
    return tagged


def format_tokens(text):
    """`tok/POS tok/POS ...` for a caption."""
    return " ".join(f"{word}/{pos}" for word, pos in tag_tokens(text))


def format_text_line(caption, start_s=0.0, end_s=0.0):
    """One `texts/*.txt` line: `caption#tok/POS ...#start#end`; 0.0#0.0 means the whole clip."""
    caption = " ".join(caption.replace("#", " ").split())
    return f"{caption}#{format_tokens(caption)}#{float(start_s)}#{float(end_s)}"


def parse_text_line(line):
    """Inverse of format_text_line.

    Returns (caption, tokens [(word, POS)], start_s, end_s). NaN or missing times read as 0.0 (whole clip), as the
    HumanML3D loaders treat them.
    """
    parts = line.rstrip("\n").split("#")
    if len(parts) < 2:
        raise ValueError(f"not a caption#tokens#start#end line: {line!r}")
    caption = parts[0].strip()
    tokens = []
    for item in parts[1].split():
        word, _, pos = item.rpartition("/")
        tokens.append((word, pos) if word else (pos, ""))

    def as_seconds(text):
        try:
            value = float(text)
        except ValueError:
            return 0.0
        return 0.0 if np.isnan(value) else value

    start = as_seconds(parts[2]) if len(parts) > 2 else 0.0
    end = as_seconds(parts[3]) if len(parts) > 3 else 0.0
    return caption, tokens, start, end
