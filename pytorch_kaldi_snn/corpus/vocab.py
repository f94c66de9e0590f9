"""The demo corpus's own vocabulary and a small generative grammar.

Sentences follow a handful of templates over word classes, so word order is far from
uniform and a word bigram LM helps; adjectives, nouns and verbs are many so the task is
not a closed set of phrases.
"""

from __future__ import annotations

import random
import zlib

_WORDS = {
    "det": "the a this that every some one another each my your his her our their no",
    "num": "two three four five six seven eight nine ten eleven twelve twenty "
    "thirty forty fifty hundred several many few",
    "adj": "red blue green yellow black white brown gray purple orange pink "
    "golden silver big small large tiny huge little long short tall wide narrow "
    "deep shallow heavy light dark bright quiet loud soft hard warm cold hot cool "
    "wet dry old young new fresh clean dirty empty full rich poor happy sad angry "
    "calm brave clever gentle kind proud shy strange simple plain fancy quick "
    "slow early late round flat sharp smooth rough thick thin sweet bitter sour "
    "salty spicy tasty busy lazy noisy sunny rainy windy cloudy foggy frozen "
    "broken hidden lucky famous friendly careful honest polite wild tame lonely "
    "lovely ugly pretty strong weak healthy sick hungry thirsty tired sleepy "
    "awake curious eager",
    "noun": "cat dog horse cow sheep goat pig rabbit mouse rat bird duck goose "
    "chicken eagle owl crow swan fish shark whale dolphin frog snake lizard "
    "turtle bee ant spider butterfly lion tiger bear wolf fox deer monkey zebra "
    "camel elephant giraffe kangaroo penguin parrot farmer teacher doctor nurse "
    "driver pilot sailor soldier singer dancer painter writer baker butcher cook "
    "waiter clerk lawyer judge king queen prince princess child boy girl man "
    "woman baby friend neighbor stranger guest student captain artist house "
    "cottage castle tower bridge road street river lake sea ocean beach island "
    "mountain hill valley forest field garden park farm village town city market "
    "shop school church library hospital station harbor airport table chair bed "
    "desk door window wall floor roof stair lamp clock mirror box bag basket "
    "bottle cup glass plate bowl spoon fork knife pot pan kettle oven stove "
    "fridge sofa carpet pillow blanket candle book letter paper pencil pen map "
    "picture photo painting song story poem game toy ball kite drum flute guitar "
    "piano violin trumpet bell whistle car bus train truck bicycle boat ship "
    "plane rocket wagon cart tractor engine wheel ladder rope chain hammer nail "
    "saw shovel bucket brush comb apple banana cherry grape lemon melon orange "
    "peach pear plum berry bread cake cookie pie soup rice bean corn potato "
    "tomato carrot onion cheese butter milk egg honey jam tea coffee juice water "
    "salt pepper sugar flour meat chicken sausage sandwich pizza hat coat shirt "
    "dress skirt jacket scarf glove boot shoe sock ring necklace button pocket "
    "umbrella wallet ticket coin key lock stone rock sand mud dust snow rain "
    "storm cloud wind sun moon star sky fire smoke flame light shadow tree flower "
    "rose tulip daisy grass leaf branch root seed bush vine",
    "noun2": "pond stream creek cliff cave desert meadow canyon swamp jungle "
    "glacier volcano harbour dock pier palace temple museum theater cinema bakery "
    "factory office kitchen bedroom bathroom garage cellar attic hallway balcony "
    "porch fence gate path lane avenue square corner tunnel canal dam well "
    "fountain statue tent cabin barn stable nest hive web shell feather wing tail "
    "paw claw horn tooth bone blanket curtain basin sink bath towel soap sponge "
    "bucket broom mop tray jar lid cork needle thread button zipper pin badge "
    "medal trophy crown sword shield arrow bow spear helmet armor flag banner "
    "sign poster card envelope parcel gift prize purse coinbox diary notebook "
    "magazine newspaper journal album radio phone camera computer screen keyboard "
    "mouse printer battery cable wire switch plug motor pump valve pipe tank "
    "barrel crate sack ribbon string net fence pole post beam plank brick tile "
    "glassware marble granite copper iron steel gold silver diamond pearl ruby "
    "emerald crystal coal oil gas wax clay cotton wool silk leather velvet linen "
    "lace denim nylon plastic rubber pumpkin cabbage lettuce spinach garlic "
    "ginger pepperoni noodle pasta salad yogurt cream pudding muffin pancake "
    "waffle biscuit cracker toast bagel donut walnut almond peanut coconut "
    "pineapple mango papaya kiwi lime apricot fig uncle aunt cousin nephew niece "
    "grandmother grandfather sister brother mother father daughter son husband "
    "wife chief mayor priest monk knight wizard witch giant dwarf elf fairy "
    "dragon ghost robot alien pirate sheriff cowboy hunter fisherman gardener "
    "plumber carpenter mechanic tailor barber jeweler banker grocer florist poet "
    "composer actor athlete coach referee umpire scientist",
    "verb_t": "sees finds likes loves hates wants needs takes gives makes builds "
    "breaks fixes paints draws cleans washes cooks eats drinks buys sells carries "
    "pushes pulls lifts drops throws catches kicks hits holds hides shows opens "
    "closes fills empties moves keeps leaves meets visits helps calls follows "
    "chases watches hears smells touches tastes counts measures reads writes "
    "sings plays teaches learns remembers forgets forgives thanks warns greets "
    "feeds brings sends borrows lends steals wins loses picks plants waters cuts "
    "folds wraps packs ties rolls shakes bakes boils fries peels slices mixes "
    "stirs pours spills",
    "verb_i": "sleeps runs walks jumps swims flies sings dances laughs cries "
    "smiles waits sits stands falls rises shines glows burns melts freezes grows "
    "shrinks rests plays works travels arrives departs returns hurries wanders "
    "whispers shouts listens speaks breathes blinks yawns sneezes coughs snores "
    "shivers sweats floats sinks drifts spins bounces rolls slides climbs crawls "
    "hops skips trembles",
    "prep": "in on under over near behind beside between above below inside "
    "outside across along around through toward from into onto past beyond with "
    "without against among",
    "adv": "quickly slowly quietly loudly gently softly happily sadly calmly "
    "bravely carefully suddenly finally often always never sometimes rarely today "
    "tonight tomorrow yesterday again soon later now here there everywhere "
    "together alone early late",
    "name": "anna ben carl diana emma frank grace henry irene jack kate leo mary "
    "nick olga peter rose sam tina victor wendy alice bob claire david ella fred "
    "george hannah isaac julia kevin linda martin nora oscar paula robert susan "
    "tom ursula vera william",
    "time": "morning afternoon evening night day week month year monday tuesday "
    "wednesday thursday friday saturday sunday spring summer autumn winter "
    "january february march april may june july august september october november "
    "december",
    "conj": "and but so then because while when after before until although if",
    "pron": "he she they we i you it someone everyone nobody",
    "extra": "very quite rather too almost nearly also still even just only "
    "really perhaps maybe please yes okay hello goodbye sorry thank thanks "
    "welcome first second third last next other same different whole half double "
    "single every",
}

P_HABIT = 0.6  # probability of a habitual successor (word bigram structure)
SUCCESSORS = 4  # habitual successors per (previous word, class)
P_PAUSE = 0.7  # probability that a phrase boundary (",") of a template is spoken

VOCAB: dict[str, list[str]] = {k: v.split() for k, v in _WORDS.items()}

_TEMPLATES = [
    "det adj noun verb_t det noun",
    "det adj noun2 verb_t det noun2",
    "name verb_t det noun2 prep det noun2",
    "det noun2 verb_i prep det adj noun",
    "det noun verb_i prep det noun",
    "name verb_t det adj noun , prep det noun",
    "pron verb_t num adj noun",
    "det adj adj noun verb_i adv",
    "name and name verb_t det noun time",
    "pron verb_i prep det noun , conj det noun verb_i",
    "det noun prep det noun , verb_t det adj noun",
    "extra , det noun verb_i adv",
    "name verb_i prep det adj noun adv",
    "on time , det noun verb_t det noun",
    "det num noun verb_i prep det noun",
]


def all_words() -> list[str]:
    """The sorted vocabulary (every word the grammar can produce)."""
    words = {w for ws in VOCAB.values() for w in ws}
    words.update(
        w for t in _TEMPLATES for w in t.split() if w not in VOCAB and w != ","
    )
    return sorted(words)


def successors(prev: str, slot: str, k: int = SUCCESSORS) -> list[str]:
    """The ``k`` words of class ``slot`` that habitually follow ``prev``.

    A fixed pseudo-random choice per (previous word, class), seeded by a CRC of the
    pair, so it is the same in every process and Python version.
    """
    words = VOCAB[slot]
    r = random.Random(zlib.crc32(f"{prev}|{slot}".encode()))
    return r.sample(words, min(k, len(words)))


def sample_sentence(rng: random.Random) -> list[str]:
    """One sentence's words (see :func:`sample_phrased`)."""
    return sample_phrased(rng)[0]


def sample_phrased(rng: random.Random) -> tuple[list[str], list[int]]:
    """One sentence: a template filled word by word, and where it pauses.

    Each slot takes, with probability ``P_HABIT``, one of the habitual successors of
    the previous word (collocations: what makes a word bigram LM beat a unigram one,
    about 290 -> 110 test perplexity on ``small``), otherwise a Zipf-like or uniform
    draw from the whole class (keeps the whole vocabulary in use). Each phrase
    boundary of the template (``,``) is then a pause with probability ``P_PAUSE``;
    ``breaks`` lists the indices of the words that follow a pause. The boundaries
    draw after the words, so the words do not depend on them.
    """
    template = rng.choice(_TEMPLATES).split()
    out: list[str] = []
    boundaries: list[int] = []
    prev = "<s>"
    for slot in template:
        if slot == ",":
            boundaries.append(len(out))
            continue
        if slot not in VOCAB:
            out.append(slot)
            prev = slot
            continue
        words = VOCAB[slot]
        if rng.random() < P_HABIT:
            word = rng.choice(successors(prev, slot))
        elif rng.random() < 0.5:
            # Zipf-like preference keeps some words frequent, as in real text.
            idx = min(int(rng.paretovariate(1.2)) - 1, len(words) - 1)
            word = words[(idx * 7 + rng.randrange(3)) % len(words)]
        else:
            word = rng.choice(words)
        out.append(word)
        prev = word
    breaks = [b for b in boundaries if rng.random() < P_PAUSE]
    return out, breaks


def spoken_text(words: list[str], breaks: list[int]) -> str:
    """The text given to the synthesiser: a comma before each break.

    >>> spoken_text(["on", "time", "the", "cat", "sleeps"], [2])
    'on time, the cat sleeps'
    """
    return " ".join(w + ("," if i + 1 in breaks else "") for i, w in enumerate(words))
