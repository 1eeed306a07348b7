"""From a free-text prompt to the action checks it implies: "a man strolls forward, then takes a seat" -> walk > sit.

`expectation_for(prompt)` reads the prompt with keyword and synonym lists (no model). It splits the prompt into parts
that happen one after another ("then", "after that", "before", "after", commas), finds the action words of each part
(the first pattern of `_PATTERNS` that matches a word claims it), and groups the words of a part: together when the
part says so ("while", "as", "at the same time", "along the way") or when an arm gesture meets a way of moving
("walks and waves"), else one after the other ("walks forward and sits down"). Sides ("left", "right", "clockwise")
and speeds ("slowly", "briskly") are read from the words around each action. Weak words ("steps", "stands", "raises a
hand") count only when nothing stronger is asked for, and some actions contain others ("stands and looks around" is
looking around; "walks a few steps and stops" is a start-stop walk).

The result is an `Expectation` of `motion_core.motion.action_check`. A prompt with no action it knows, or a negated one
("does not walk"), gives an empty Expectation: "no check", never a guess.

numpy only (never imports torch).
"""

import re
from dataclasses import dataclass

from motion_core.motion.action_check import RULES, ActionCheck, Expectation

SLOW_WORDS = ("slowly", "slow", "leisurely", "unhurried", "unhurriedly", "gently", "lazily", "calmly", "casually",
              "sluggishly", "at a slow pace", "at a relaxed pace", "taking (?:his|her|their|its) time", "in no hurry",
              "at an easy pace", "easy pace", "at a gentle pace", "gentle", "relaxed")
FAST_WORDS = ("quickly", "fast", "briskly", "rapidly", "hurriedly", "speedily", "swiftly", "quick", "brisk",
              "at a brisk pace", "at a quick pace", "in a hurry", "at speed", "hastily", "at a rapid pace", "hurried",
              "rapid")
NEGATION = re.compile(r"\b(?:not|never|no longer|refuses? to|instead of|neither|nor|cannot|can't|doesn't|don't|"
                      r"won't|isn't)\b")

_POSS = r"(?:the |his |her |their |its |both |one |a |an )?"
# (kind, pattern, strong, stop). The first pattern that matches a stretch of words claims it; kind "" claims words
# that only prepare or finish another action ("stands back up", "winds up"). Weak words give way to any strong one.
_PATTERNS = [
    ("", r"\b(?:stands?|standing|gets?|getting|comes?|coming|straightens?|straightening|pushes|pushing|springs?)"
         r" (?:back )?up\b|\brises\b|\brising\b|\brise\b|\bgets? back up\b|\brecovers?\b|\brecovering\b|\bcatches? "
         r"(?:his|her|their|its) balance\b|\bkeeps? going\b|\bwinds? up\b|\bon the spot\b|\bback to (?:standing|"
         r"(?:his|her|their) feet)\b|\bto (?:his|her|their) feet\b|\bstands? back\b", False, False),
    # ---- whole-body actions with their own words first
    ("jumping_jacks", r"\bjumping jacks?\b|\bstar jumps?\b|\bjumps? (?:while )?spread\w* (?:the |his |her |their )?"
                      r"(?:arms|legs) and (?:arms|legs)\b|\bjumps? spreading (?:the )?legs\b", True, False),
    ("arm_circles", r"\barm circles?\b|\b(?:circl|rotat|whirl|wheel)\w* " + _POSS + r"arms\b|\b(?:swing|turn)\w* "
                    + _POSS + r"arms (?:a)?round\b|\b\w+ " + _POSS + r"arms in circles\b"
                    r"|\bmakes? (?:\w+ )?circles(?: with " + _POSS + r"arms)?\b|\bwindmill\w*|\bcircles? (?:with )?"
                    + _POSS + r"arms\b|\b(?:small|big|large) circles\b", True, False),
    ("look_around", r"\blooks? (?:all )?around\b|\blooking (?:all )?around\b|\blooks? (?:to the )?(?:left|right) and "
                    r"(?:to the )?(?:left|right)\b|\bglanc\w*|\bscans?\b|\bscanning\b|\bsurvey\w*|"
                    r"\blooks? over (?:both|"
                    r"his|her|their) shoulders?\b|\bturns? (?:the|his|her|their) head\b|\bpeers? around\b|\blooks? "
                    r"about\b|\bchecks? (?:the |his |her |their )?surroundings\b|\blooks? from side to side\b|\bgazes? "
                    r"around\b|\blooks? this way and that\b", True, False),
    ("stumble", r"\bstumbl\w*|\btrips?\b|\btripping\b|\bstagger\w*|\bloses? (?:his |her |their |its )?(?:footing|"
                r"balance)\b|\bloss of balance\b|\balmost falls?\b|\bnearly falls?\b|\blurch\w*", True, False),
    ("turn_around", r"\b(?:turn|spin|pivot|rotat|swivel|whirl)\w* (?:(?:his|her|their|the) body )?(?:all the way "
                    r"|right |back )?(?:a)?round to face\b|\bturn\w* (?:(?:his|her|their|the) body )?(?:all the way "
                    r"|right |back )?(?:a)?round\b(?! in (?:a )?(?:full )?circle)(?! (?:twice|two times|once more))"
                    r"|\babout face\b|\babout turn\b|\b180\b|\bhalf (?:a )?turn\b|\bturns? back\b|\bfaces? the other "
                    r"way\b|\bface the opposite (?:way|direction)\b|\bturns? (?:his|her|their|its) back\b|\bpivot\w* "
                    r"(?:a)?round\b|\bturns? to face (?:the other way|backwards?|behind)\b|\breverses? direction\b",
     True, False),
    ("walk_circle", r"\bcircles? (?:around|round|the room|clockwise|counterclockwise|anticlockwise)\b|\b(?:walk|stroll|"
                    r"pac|wander|mov|go|march)\w* (?:(?:a)?round )?in (?:a |one )?(?:full |small |big |wide |large |"
                    r"complete |little )?(?:circle|loop|ring)s?\b|\b(?:walk|stroll|mak|go|complet)\w* (?:a |"
                    r"one )?(?:full |small |big |wide |large |complete |little )?(?:circle|loop|lap)\b|\bcircling\b|"
                    r"\bcircular path\b",
     True, False),
    ("spin", r"\bspin\w*|\btwirl\w*|\bpirouett\w*|\b360\b|\bfull (?:turn|circle|rotation|spin)\b|\brotat\w* (?:in "
             r"place|on the spot)\b|\bturns? (?:a)?round (?:twice|two times)\b|\bwhirls?\b", True, False),
    ("walk_curve", r"\bcurv\w*|\b(?:in|along|follows?) (?:a |an )?(?:curved? |gentle |wide )?(?:arc|curve|bend)\b|"
                   r"\barc(?:s|ing)?\b|\bgradually (?:turn|veer|bear)\w*|\bveer\w*|\bbending (?:to the )?(?:left|right)"
                   r"\b|\bbears? (?:to the )?(?:left|right)\b", True, False),
    ("sit_down_stand_up", r"\bsits?\b|\bsitting\b|\bsat\b|\btakes? a seat\b|\btaking a seat\b|\bseats? (?:him|her|"
                          r"them|it)sel(?:f|ves)\b|\bseated\b|\b(?:into|onto|in|on) a (?:chair|bench|stool|seat)\b",
     True, False),
    ("kneel", r"\bkneel\w*|\bknelt\b|\b(?:on|to|onto) (?:one|a|his|her|their|the left|the right) (?:left |right )?"
              r"knee\b|\bgenuflect\w*", True, False),
    ("lunge", r"\blung(?:e|es|ing|ed)\b|\bsteps? (?:the |his |her |their |one )?(?:left |right )?(?:foot|leg) "
              r"(?:forward|ahead) and bends\b", True, False),
    ("squat", r"\bsquat\w*|\bdeep knee bends?\b|\bknee bends?\b|\bcrouches? down\b|\bducks? down\b", True, False),
    ("bow", r"\bbow(?:s|ed|ing)?\b(?! (?:and|with) arrow)|\bcurts(?:e)?y\w*|\bbends? (?:forward |over )?at the waist\b"
            r"|\bbends? (?:deeply |politely )?forward\b|\bleans? forward to\b", True, False),
    ("hop_on_one_leg", r"\bhop\w* (?:\w+ ){0,3}on (?:one|a single|the (?:left|right)|his (?:left|right)|her "
                       r"(?:left|right)|their (?:left|right)|(?:left|right)) (?:leg|foot)\b|\bjump\w* (?:\w+ )?(?:\w+ "
                       r")?on (?:one|a single|the (?:left|right)|(?:left|right)) (?:leg|foot)\b|\bon one (?:leg|"
                       r"foot),? "
                       r"hops?\b|\bone legged hops?\b|\bbalances? on (?:the |one |his |her |their )?(?:left |right )?"
                       r"(?:leg|foot) and hops?\b", True, False),
    ("kick", r"\bthrows? (?:a |an )?(?:quick |high |low |front |side |roundhouse |snap |left |right )*kicks?\b|"
             r"\bkick(?:s|ed|ing)?\b", True, False),
    ("raise_arms", r"\b(?:rais|lift|put|hold|stick|thrust|reach|shoot|throw)\w* (?:up )?(?:both|the|his|her|their|two) "
                   r"(?:arms|hands)\b|\b(?:arms|hands) (?:up|raised|in the air|above (?:the|his|her|their) head|"
                   r"overhead|high|skyward|to the sky)\b|\bputs? (?:his |her |their )?hands up\b|\bhands? (?:up )?in "
                   r"the air\b|\breach\w* (?:up|upward|skyward|high)\w*\b|\bsurrenders?\b", True, False),
    ("punch", r"\bpunch(?:es|ed|ing)?\b|\bjab(?:s|bed|bing)?\b|\bboxing\b|\bboxes (?:with|like|against)\b|"
              r"\bthrows? (?:a |an |some |several |a few |a series of )?(?:quick |fast |hard |strong |straight )?"
              r"(?:left |right )?(?:punch|jab|hook|uppercut|cross)\w*|\bhits? the air\b|\bstrikes? (?:the air|"
              r"forward)\b|\bshadow ?box\w*|\buppercut\w*", True, False),
    ("throw", r"\bthrow(?:s|ing|n)?\b|\bthrew\b|\btoss\w*|\bpitch(?:es|ing)?\b|\bhurl\w*|\blob(?:s|bing)?\b|"
              r"\bflings?\b", True,
     False),
    ("clap", r"\bclap\w*|\bapplau\w*|\bround of applause\b|\bslaps? (?:his|her|their) (?:hands|palms) together\b|"
             r"\bbrings? (?:his|her|their|the) hands together\b", True, False),
    ("wave", r"\bwav(?:e|es|ed|ing)\b|\bsays? (?:hello|hi|goodbye|bye)\b|\bbids? (?:farewell|goodbye)\b", True, False),
    ("point", r"\bpoint(?:s|ed|ing)?\b(?! of\b)|\bindicat\w* (?:something|a direction)\b", True, False),
    ("stretch", r"\bstretch\w*", True, False),
    ("jump", r"\bjump(?:s|ed|ing)?\b|\bleap(?:s|t|ed|ing)?\b|\bhop(?:s|ping|ped)?\b|\bbounc\w*|\bsprings?(?: up|"
             r" forward| into the air)\b|\bspringing\b", True, False),
    ("dance", r"\bdanc(?:e|es|ed|ing)\b|\bgroov\w*|\bboogie\w*|\bdisco\b|\bwaltz\w*|\bsalsa\b|\bbusts? a move\b|"
              r"\bshakes? (?:it|"
              r"his hips|her hips|their hips)\b|\bsways? to (?:the|a) (?:music|beat|rhythm)\b|\bto the beat\b", True,
     False),
    ("skip", r"\bskip(?:s|ping|ped)?\b", True, False),
    ("limp", r"\blimp\w*|\bhobbl\w*|\b(?:injured|hurt|sore|bad|wounded|painful|lame) (?:left |right )?(?:leg|foot|"
             r"ankle|knee)\b|\bfavou?ring (?:the |his |her |their |one )?(?:left |right )?(?:leg|foot)\b", True, False),
    ("march", r"\bmarch\w*|\bhigh knees\b|\b(?:raising|lifting) (?:the |his |her |their )?knees(?: high)?\b|"
              r"\bparades?\b|\blike a soldier\b|\bsoldierly\b|\bmilitary (?:step|walk|style|fashion)\b|"
              r"\bknees high\b", True, False),
    ("sneak", r"\bsneak\w*|\bsnuck\b|\btiptoe\w*|\bcreep\w*|\bcrept\b|\bprowl\w*|\bstealth\w*|\bon (?:his|her|their) "
              r"toes\b|\bsilently\b|\bquietly\b", True, False),
    ("sprint", r"\bsprint(?:s|ed|ing)?\b|\bdash\w*|\bbolt\w*|\b(?:at|with) (?:full|top|maximum|max) speed\b|"
               r"\bas fast as "
               r"(?:possible|(?:he|she|they|it) can)\b|\braces?\b|\bracing\b|\bflat out\b|\bruns? (?:very|really|"
               r"extremely) (?:fast|quickly)\b|\bat a full run\b", True, False),
    ("jog", r"\bjog(?:s|ged|ging)?\b|\btrot(?:s|ted|ting)?\b|\blight run\b|\bgentle run\b|\beasy run\b|"
            r"\bslow run\b", True, False),
    ("run", r"\brun\b|\bruns\b|\brunning\b|\bran\b", True, False),
    ("side_step", r"\bside ?(?:step|steps|stepping|stepped)\b|\bsideways\b|\bshuffl\w* (?:to the |toward the |"
                  r"towards the )?(?:left|right)\b|\bstrafe\w*|\bcrab walk\w*|\blaterally\b|\bto the side\b", True,
     False),
    ("walk_backwards", r"\b(?:walk|step|mov|go|stroll|shuffl|head|pac|tread|creep|inch)\w* (?:\w+ )?backwards?\b|\bin "
                       r"reverse\b|\bbacks? (?:up|away)\b|\bbacking (?:up|away)\b|\bretreat\w*|\bbackpedal\w*|"
                       r"\breverses\b|\bwalking back\b|\bwalks? back (?:the way|to where)\b", True, False),
    ("turn", r"\bturn\w*|\bpivot\w*|\brotat\w*|\bswivel\w*|\bchanges? direction\b|\bwheels? (?:to the )?(?:left|"
             r"right)\b|\bsteps? around to face\b|\bto face the (?:left|right)\b", True, False),
    ("stand", r"\bstands? (?:still|idle|motionless|quietly|calmly|in place|in one place|there|around|without moving)\b"
              r"|\bstanding (?:still|idle|motionless|in place|around|there)\b|\bidl(?:e|es|ing)\b|\bwaits?\b|"
              r"\bwaiting\b|\bstays? (?:still|put|in place|standing|where)\b|\bremains? (?:still|standing|in place|"
              r"motionless)\b|\bdoes nothing\b|\bmotionless\b|\bholds? still\b|\bfreezes?\b|\bkeeps? still\b|"
              r"\bstock still\b|\bat rest\b", True, False),
    ("stand", r"\bstops?\b|\bstopping\b|\bhalts?\b|\bhalting\b|\bcomes? to a (?:stop|halt|standstill)\b|"
              r"\bpauses?\b", True, True),
    ("walk", r"\bwalk(?:s|ed|ing)?\b|\bstroll(?:s|ed|ing)?\b|\bstrid(?:e|es|ing)\b|\bstrode\b|\bambl\w*|"
             r"\bsaunter\w*|\bwander\w*|\bpaces\b|"
             r"\bpacing\b|\btreks?\b|\bhikes?\b|\bstrut\w*|\bplods?\b|\btrudg\w*|\bproceeds? (?:forward|ahead)\b|"
             r"\bmoves? (?:forward|ahead)\b|\badvanc\w*|\bheads? (?:forward|off|out)\b|\bgoes (?:forward|ahead|"
             r"straight)\b|\bon foot\b|\bshuffl\w* (?:forward|along|ahead|across|down|toward)\b|"
             r"\bshambl\w*|\blumber(?:s|ed|ing)?\b|\bwaddl\w*|\btoddl\w*|\bstomp\w*|\btramp(?:s|ed|ing)?\b|"
             r"\bmakes? (?:his|her|their|its) way\b|\bsteps? (?:forward|ahead)\b|\btakes? (?:a few |several |some |"
             r"two |three |four |five |a couple of )?(?:small |big |long |short )?steps\b", True, False),
    # ---- weak words: actions only when nothing stronger is asked for
    ("walk", r"\bsteps\b|\bstepping\b|\bgoes\b", False, False),
    ("walk_backwards", r"\bsteps? back\b", False, False),
    ("stand", r"\bstands?\b|\bstanding\b", False, False),
    ("", r"\b(?:rais|lift|extend|hold|stick|us)\w* (?:up )?(?:the|his|her|their|one|a) (?:left |right )?(?:hand|arm|"
         r"leg|foot|knee)s?\b|\bbends? (?:the|his|her|their) knees\b|\blowers? (?:him|her|them|it)sel(?:f|ves)\b|"
         r"\blowers? (?:onto|down|into)\b|\bleans? forward\b|\bgoes down\b|\bdrops?\b|\bcrouch\w*|\bbalanc\w*|"
         r"\bholds? (?:the |both |his |her |their )?arms out\b", False, False),
]
_COMPILED = [(i, kind, re.compile(pattern), strong, stop) for i, (kind, pattern, strong, stop) in enumerate(_PATTERNS)]

# Sequence connectors ("A then B"); "before" keeps the order, "after" swaps the parts around it; commas and full stops
# separate parts too, but a part that says it happens "along the way" joins the one before it.
_THEN = re.compile(r"\s*,?\s*\b(?P<word>and then|and after that|and afterwards|then|after that|afterwards|after which|"
                   r"followed by|next|finally|and finally|later|subsequently|eventually|once done|when done|"
                   r"once finished|before|after)\b\s*,?\s*|(?P<stop>\s*[;.!?]+\s*)|(?P<comma>\s*,\s*(?:and\s+)?)")
_TOGETHER = re.compile(r"\b(?:while|whilst|as (?:he|she|they|it)|at the same time|simultaneously|meanwhile|"
                       r"along the way|at once|in the meantime|as well)\b")
_TRAILING_TOGETHER = re.compile(r"\b(?:along the way|at the same time|simultaneously|meanwhile|in the meantime|"
                                r"at once|as well)\s*$")

_GESTURES = {"wave", "wave_left", "wave_right", "wave_both", "clap", "raise_arms", "point", "punch", "throw",
             "stretch", "arm_circles"}
_MOVING = {"walk", "jog", "run", "sprint", "sneak", "march", "limp", "side_step", "side_step_left", "side_step_right",
           "walk_backwards", "turn", "turn_left", "turn_right", "walk_curve", "walk_circle", "start_stop", "stand",
           "skip"}
# A kind named together with another that it already contains: "stands and looks around" is looking around.
_ABSORBS = {
    "stretch": {"raise_arms"}, "wave_both": {"raise_arms"}, "wave": {"raise_arms"}, "wave_left": {"raise_arms"},
    "wave_right": {"raise_arms"}, "point": {"raise_arms"}, "jumping_jacks": {"jump", "clap", "raise_arms"},
    "stumble": {"walk", "stand"}, "look_around": {"stand", "turn", "turn_left", "turn_right"},
    "hop_on_one_leg": {"jump", "stand"}, "dance": {"side_step", "walk", "stand"}, "walk_curve": {"walk", "turn"},
    "walk_circle": {"walk", "turn", "spin"}, "spin": {"turn"}, "turn_around": {"turn"},
    "sit_down_stand_up": {"squat", "bow", "stand"}, "kneel": {"walk_backwards", "squat", "stand"},
    "lunge": {"walk", "walk_backwards", "squat"}, "limp": {"walk"}, "march": {"walk"}, "sneak": {"walk"},
    "skip": {"jump", "walk"}, "squat": {"stand"}, "bow": {"stand"}, "arm_circles": {"raise_arms", "turn"},
    "punch": {"throw"},
}
_FAMILIES = ("wave", "kick", "turn", "side_step", "jump")
_SPEED_KINDS = {k for k, spec in RULES.items() if spec.speeds}
# Kinds whose rules ask for travel, and the words that say there is none
_TRAVELLING = {"walk", "jog", "run", "sprint", "sneak", "march", "limp", "walk_backwards", "walk_curve", "walk_circle",
               "start_stop", "skip", "side_step", "side_step_left", "side_step_right", "stumble"}
_IN_PLACE = re.compile(r"\bin place\b|\bon the spot\b|\bin the same (?:place|spot)\b|\bon a treadmill\b|"
                       r"\bwithout (?:moving|going) (?:forward|anywhere)\b")


@dataclass
class _Hit:
    """One action word of a part: its rule kind ('' for a word with no action of its own) and where it is."""

    order: int   # index in _PATTERNS: lower = more specific
    kind: str
    start: int
    end: int
    strong: bool
    stop: bool


def _normalise(prompt):
    text = prompt.lower().replace("\u2019", "'")
    text = re.sub(r"[-_/]", " ", text)
    text = re.sub(r"[^a-z0-9',.;!? ]", " ", text)
    text = re.sub(r"\b(counter|anti) clockwise\b", r"\1clockwise", text)
    text = re.sub(r"\bafter (?:waking|getting) up\b", " ", text)  # a mood, not a first action
    return re.sub(r"\s+", " ", text).strip()


def _hits(text):
    """Action words of one part, in order; each stretch of words is claimed by the first pattern that matches it."""
    taken = [False] * len(text)
    out = []
    for order, kind, pattern, strong, stop in _COMPILED:
        for match in pattern.finditer(text):
            a, b = match.span()
            if a == b or any(taken[a:b]):
                continue
            taken[a:b] = [True] * (b - a)
            out.append(_Hit(order, kind, a, b, strong, stop))
    return sorted(out, key=lambda h: h.start)


def _side(context):
    """'left' / 'right' named in the words around an action (None if neither or both)."""
    if re.search(r"\bcounterclockwise\b|\banticlockwise\b", context):
        return "left"
    if re.search(r"\bclockwise\b", context):
        return "right"
    left = re.search(r"\bleft\b", context) is not None
    right = re.search(r"\bright\b(?! (?:away|now|there|here|after|before|then|back))", context) is not None
    if left == right:
        return None
    return "left" if left else "right"


def _speed(context):
    if any(re.search(rf"\b{w}\b", context) for w in SLOW_WORDS):
        return "slow"
    if any(re.search(rf"\b{w}\b", context) for w in FAST_WORDS):
        return "fast"
    return None


def _check(hit, context, part):
    """The ActionCheck for one action word read with the words around it (families made specific)."""
    kind, side = hit.kind, _side(context)
    if kind == "wave":
        if side is None and re.search(r"\bboth (?:hands|arms)\b|\btwo hands\b", part) or \
                re.search(r"\bhands\b|\barms\b", context):
            kind = "wave_both"
        else:
            kind = {"left": "wave_left", "right": "wave_right"}.get(side, "wave")
    elif kind in ("kick", "side_step", "turn"):
        kind = {"left": f"{kind}_left", "right": f"{kind}_right"}.get(side, kind)
    elif kind == "jump":
        if re.search(r"\b(?:forwards?|ahead|far|long jump|broad jump|across|over)\b", context):
            kind = "jump_forward"
        elif re.search(r"\bin place\b|\bon the spot\b|\bup and down\b|\bstraight up\b|\bvertical\w*|\bin the same "
                       r"(?:place|spot)\b|\bupwards?\b|\binto the air\b|\bin the air\b", context):
            kind = "jump_in_place"
    if kind in _TRAVELLING and _IN_PLACE.search(context):
        return None  # "jogs in place", "walks on a treadmill": its rule wants travel; no check rather than a wrong one
    spec = RULES[kind]
    speed = _speed(context) if kind in _SPEED_KINDS else None
    return ActionCheck(kind, side if spec.sides else None, speed)


@dataclass
class _Part:
    """A stretch of the prompt between sequence connectors."""

    text: str
    joint: str       # how it follows the previous part: "then", "before", "after", "stop", "comma", or "" (first)
    together: bool = False  # its actions happen at the same time


def _split_sequence(text):
    """Parts in time order (see _THEN); parts without an action word stay with their neighbour as its context."""
    parts, last, joint = [], 0, ""
    for match in _THEN.finditer(text):
        parts.append(_Part(text[last:match.start()].strip(), joint))
        joint = "comma" if match.group("comma") else ("stop" if match.group("stop") else match.group("word"))
        last = match.end()
    parts.append(_Part(text[last:].strip(), joint))
    # "stretches after waking up": no action after the connector, so it is no connector.
    merged = []
    for part in parts:
        if not part.text:
            continue
        if merged and not any(h.kind for h in _hits(part.text)):
            merged[-1].text += " " + part.text
            continue
        merged.append(part)
    ordered = []
    for part in merged:
        if part.joint == "after" and ordered:
            previous = ordered.pop()  # "sits after walking": walking first
            ordered += [_Part(part.text, previous.joint), _Part(previous.text, "then")]
            continue
        ordered.append(part)
    out = []
    for part in ordered:
        part.together = bool(_TOGETHER.search(part.text))
        # "..., and claps along the way" and "walks forward, bending to the left" describe the previous part.
        if out and part.joint == "comma" and (_TRAILING_TOGETHER.search(part.text) or re.match(r"\w+ing\b", part.text)):
            out[-1] = _Part(out[-1].text + " while " + part.text, out[-1].joint, True)
            continue
        out.append(part)
    return out


def _groups(part_index, part):
    """Hits of one part grouped into what happens together, in time order: [[(check or None, hit, part_index)]]."""
    hits = _hits(part.text)
    actions = [h for h in hits if h.kind]
    groups = []
    for hit in hits:
        if hit.kind:  # its words: from the previous action word to the next one
            k = actions.index(hit)
            lo = actions[k - 1].end if k else 0
            hi = actions[k + 1].start if k + 1 < len(actions) else len(part.text)
            check = _check(hit, part.text[lo:hi], part.text)
        else:
            check = None
        entry = (check, hit, part_index)
        if not groups:
            groups.append([entry])
            continue
        if part.together or check is None:
            groups[-1].append(entry)
            continue
        previous = {c.kind for c, _, _ in groups[-1] if c is not None}
        between = part.text[max(h.end for _, h, _ in groups[-1]):hit.start]
        here = {check.kind}
        pair = (here & _GESTURES and previous & _MOVING) or (here & _MOVING and previous & _GESTURES)
        if re.search(r"\band\b", between) and previous and not pair:
            groups.append([entry])
        else:
            groups[-1].append(entry)
    return groups


def sequence_parts(prompt) -> list[str]:
    """The parts of a prompt that happen one after another, in time order, lower-cased ("a man walks in, then sits
    down" -> ["a man walks in", "sits down"]; "sits after walking" -> ["walking", "sits"]; "walks to the table and
    takes a seat" -> ["walks to the table", "takes a seat"]). Simultaneous actions stay in one part ("walks and
    waves"); a prompt with no sequence gives one part."""
    return [text.strip(" ,.;!?") for part in _split_sequence(_normalise(prompt)) for text in _split_on_and(part)]


def _split_on_and(part):
    """A part's text cut at each "and" that the checks read as "and then" (`_groups`: two actions that cannot happen
    at once, such as walking and sitting down); one text when its actions happen together, or when the checks make one
    action of them ("sits down and stands up", "stands and looks around", "loses footing and almost falls", "walks
    forward and comes to a halt")."""
    groups = _groups(0, part)
    texts, start = [], 0
    for previous, group in zip(groups, groups[1:]):
        if len(_tidy([previous, group])) < 2:  # the checks read one action: a repeat, a contained kind, a stop
            continue
        end = max(hit.end for _, hit, _ in previous)
        joint = list(re.finditer(r"\band\b", part.text[end:group[0][1].start]))[-1]  # _groups split only at an "and"
        texts.append(part.text[start:end + joint.start()])
        start = end + joint.end()
    return texts + [part.text[start:]]


def expectation_for(prompt) -> Expectation:
    """The action checks a prompt implies, or an empty Expectation ("no check") for a prompt with no known action.

    prompt: free text ("a person walks forward quickly, then sits down"). Order, simultaneity, sides and speeds come
    from keywords; see the module docstring.
    """
    if not isinstance(prompt, str):
        return Expectation(())
    text = _normalise(prompt)
    if not text or NEGATION.search(text):
        return Expectation(())
    segments = []
    for index, part in enumerate(_split_sequence(text)):
        segments.extend(_groups(index, part))
    return Expectation(tuple(tuple(seg) for seg in _tidy(segments)))


_GLOBAL_ABSORBS = {"stumble": {"walk"}}  # a stumble happens while walking, whatever the sentence says first


def _tidy(segments):
    """Drop weak and contained actions, keep one way of moving per group, make "walk ... stop" a start-stop."""
    entries = [(c, h, i) for seg in segments for c, h, i in seg if c is not None]
    strong = {c.kind for c, h, _ in entries if h.strong}
    absorbed_in = {}  # part index -> kinds absorbed there
    for c, h, i in entries:
        if h.strong:
            absorbed_in.setdefault(i, set()).update(_ABSORBS.get(c.kind, set()))
    everywhere = set().union(*(_GLOBAL_ABSORBS.get(k, set()) for k in strong)) if strong else set()
    specific = {k for k in strong if any(k.startswith(f + "_") for f in _FAMILIES)}
    out = []
    for seg in segments:
        kept = []
        for check, hit, part in seg:
            if check is None or (strong and not hit.strong):
                continue
            if (check.kind in absorbed_in.get(part, set()) or check.kind in everywhere) and not hit.stop:
                continue
            if check.kind in _FAMILIES and any(k.startswith(check.kind + "_") for k in specific):
                continue
            kept.append((check, hit))
        # One way of moving per group: the most specific word ("walks sideways" is a side step); standing still
        # gives way to anything else done at the same time.
        moving = [(c, h) for c, h in kept if c.kind in _MOVING and not h.stop]
        if len(moving) > 1:
            best = min(moving, key=lambda ch: ch[1].order)
            kept = [(c, h) for c, h in kept if (c, h) == best or c.kind not in _MOVING or h.stop]
        still = any(c.kind == "stand" for c, _ in kept)
        if len(kept) > 1:
            kept = [(c, h) for c, h in kept if c.kind != "stand" or h.stop] or kept
        if kept:
            out.append((kept, still))
    # A walk that stops ("walks a few steps and stops", "walks forward, then stands still") is a start-stop walk;
    # a stop after anything else says nothing checkable.
    result = []
    for seg, still in out:
        stops = any(h.stop for _, h in seg)
        checks = []
        for check, hit in seg:  # one check per kind, with every option its words gave ("kneels ... on the left knee")
            if hit.stop:
                continue
            same = next((i for i, c in enumerate(checks) if c.kind == check.kind), None)
            if same is None:
                checks.append(check)
            else:
                old = checks[same]
                checks[same] = ActionCheck(check.kind, old.side or check.side, old.speed or check.speed)
        walked = any(c.kind == "walk" for c in checks)
        if stops and walked:
            checks = [ActionCheck("start_stop") if c.kind == "walk" else c for c in checks]
        elif (stops or still) and result and \
                any(c.kind == "walk" for c in result[-1]):
            result[-1] = [ActionCheck("start_stop") if c.kind == "walk" else c for c in result[-1]]
            checks = [c for c in checks if c.kind != "stand"]
            if checks:
                result[-1] += [c for c in checks if c not in result[-1]]
            continue
        if not checks or (result and result[-1] == checks):
            continue
        result.append(checks)
    return result
