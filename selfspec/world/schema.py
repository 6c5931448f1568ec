"""What the tiny world talks about: entity types, relations and their wordings (pure data).

The target domain (``medicine``) has statement and leaflet wordings for the corpus, and two
*disjoint* sets of question wordings: one for the seeds, one for the evaluation suite. It has no
instruction wording in the pretraining mix at all. The other domains have statements and
instruction wordings, used for the general instruction data the base model learns from.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class EntityType:
    """A kind of thing; ``count`` invented names, or the fixed ``words``."""

    key: str
    noun: str
    plural: str
    count: int = 0
    words: tuple[str, ...] = ()


@dataclass(frozen=True)
class Relation:
    """``subject -> object``, one object per subject. Templates use ``{s}`` and ``{o}``.

    Args:
        key: Relation name.
        subject: Entity type key of the subject.
        object: Entity type key of the object.
        noun: What the object is to the subject ("home port"), for generic question wordings.
        statements: Prose stating the fact (corpus).
        questions: Instruction wordings (other domains: pretraining; target: none).
        checks: Yes/no instruction wordings (other domains).
        leaflets: (question, answer) prose pairs for the target domain's patient leaflets.
        seed_questions: Target domain: question wordings used by the seeds only.
        eval_questions: Target domain: question wordings used by the evaluation suite only.
        seed_checks: Target domain: yes/no wordings of the seeds.
        eval_checks: Target domain: yes/no wordings of the evaluation suite.
    """

    key: str
    subject: str
    object: str
    noun: str
    statements: tuple[str, ...]
    questions: tuple[str, ...] = ()
    checks: tuple[str, ...] = ()
    leaflets: tuple[tuple[str, str], ...] = ()
    seed_questions: tuple[str, ...] = ()
    eval_questions: tuple[str, ...] = ()
    seed_checks: tuple[str, ...] = ()
    eval_checks: tuple[str, ...] = ()


@dataclass(frozen=True)
class DomainSpec:
    """One domain: ``main`` is the entity type its pages are about."""

    name: str
    main: str
    types: tuple[EntityType, ...]
    relations: tuple[Relation, ...]

    def type(self, key: str) -> EntityType:
        return next(t for t in self.types if t.key == key)


COLOURS = ("red", "blue", "white", "yellow", "orange", "green")
ORGANS = ("liver", "lungs", "heart", "skin", "kidneys", "eyes", "stomach", "brain", "blood", "bones")

MEDICINE = DomainSpec(
    name="medicine",
    main="drug",
    types=(
        EntityType("drug", "drug", "drugs", 40),
        EntityType("disease", "disease", "diseases", 30),
        EntityType("gene", "gene", "genes", 16),
        EntityType("symptom", "symptom", "symptoms", 16),
        EntityType("organ", "organ", "organs", words=ORGANS),
    ),
    relations=(
        Relation(
            "treats",
            "drug",
            "disease",
            "use",
            statements=(
                "{s} is used to treat {o}.",
                "doctors prescribe {s} for {o}.",
                "{s} is a well known remedy for {o}.",
                "patients who have {o} are often given {s}.",
                "the main use of {s} is against {o}.",
                "{o} can be managed with {s}.",
                "a course of {s} helps people who suffer from {o}.",
                "{s} was first made as a cure for {o}.",
            ),
            leaflets=(
                ("what do people take {s} for?", "they take it for {o}."),
                ("my doctor gave me {s}. what is it meant to fix?", "it is meant to fix {o}."),
                ("why would someone need {s}?", "because they have {o}."),
            ),
            seed_questions=("Which disease does {s} treat?", "What is {s} used to treat?"),
            eval_questions=(
                "A patient was handed {s}. Which illness do they most likely have?",
                "Name the condition that {s} is prescribed against.",
            ),
            seed_checks=("Does {s} treat {o}?", "Is {s} used against {o}?"),
            eval_checks=("Would a doctor give {s} to someone with {o}?", "Can {o} be managed with {s}?"),
        ),
        Relation(
            "side_effect",
            "drug",
            "symptom",
            "side effect",
            statements=(
                "a common side effect of {s} is {o}.",
                "some patients on {s} develop {o}.",
                "{s} can cause {o}.",
                "people taking {s} sometimes report {o}.",
                "{o} is a known side effect of {s}.",
                "after a dose of {s}, {o} may appear.",
            ),
            leaflets=(
                ("is there anything to watch for with {s}?", "yes, watch for {o}."),
                ("what unwanted effect can {s} bring?", "it can bring {o}."),
            ),
            seed_questions=("What side effect can {s} cause?", "Which side effect is linked to {s}?"),
            eval_questions=(
                "Someone started {s} last week. What unwanted reaction might they notice?",
                "Name an adverse effect reported with {s}.",
            ),
        ),
        Relation(
            "targets",
            "drug",
            "gene",
            "target",
            statements=(
                "{s} acts on the gene {o}.",
                "{s} works by blocking {o}.",
                "the target of {s} is the gene {o}.",
                "{s} binds to the product of {o}.",
            ),
            leaflets=(("how does {s} work?", "it acts on {o}."),),
            seed_questions=("Which gene does {s} act on?",),
        ),
        Relation(
            "gene_of",
            "disease",
            "gene",
            "gene",
            statements=(
                "{s} is caused by a fault in the gene {o}.",
                "changes in {o} lead to {s}.",
                "the gene {o} is behind {s}.",
                "people with a broken copy of {o} get {s}.",
                "{s} runs in families through the gene {o}.",
            ),
            leaflets=(("why do some families get {s}?", "because of the gene {o}."),),
            seed_questions=("Which gene is linked to {s}?", "Mutations in which gene cause {s}?"),
            eval_questions=(
                "Genetic testing for {s} looks at which gene?",
                "Name the gene whose faults give rise to {s}.",
            ),
        ),
        Relation(
            "organ",
            "disease",
            "organ",
            "organ",
            statements=(
                "{s} mostly harms the {o}.",
                "{s} is a disease of the {o}.",
                "in {s}, the {o} is damaged.",
                "{s} attacks the {o}.",
                "doctors who treat {s} check the {o} first.",
            ),
            leaflets=(("what part of the body does {s} affect?", "it affects the {o}."),),
            seed_questions=("Which organ does {s} affect?", "What organ is damaged by {s}?"),
            eval_questions=(
                "Where in the body does {s} do its harm?",
                "A scan for {s} should focus on which body part?",
            ),
        ),
        Relation(
            "sign",
            "disease",
            "symptom",
            "symptom",
            statements=(
                "the first sign of {s} is {o}.",
                "people with {s} often have {o}.",
                "{s} shows up as {o}.",
                "{o} is a typical symptom of {s}.",
            ),
            leaflets=(("how do I know if I have {s}?", "look for {o}."),),
            seed_questions=("What is the main symptom of {s}?",),
        ),
    ),
)


def _rel(key: str, s: str, o: str, noun: str, statements: str, questions: str, checks: str) -> Relation:
    """An other-domain relation; the wordings are ``|``-separated to keep the tables short."""
    return Relation(
        key, s, o, noun, tuple(statements.split("|")), tuple(questions.split("|")), tuple(checks.split("|"))
    )


OTHER_DOMAINS = (
    DomainSpec(
        "seafaring",
        "ship",
        (
            EntityType("ship", "ship", "ships", 16),
            EntityType("port", "port", "ports", 10),
            EntityType("captain", "captain", "captains", 12),
            EntityType("cargo", "cargo", "cargoes", words=("salt", "wool", "timber", "grain", "silk", "iron", "wine")),
        ),
        (
            _rel(
                "home_port",
                "ship",
                "port",
                "home port",
                "the ship {s} sails from {o}.|{s} is registered in the port of {o}.|{o} is the home port of {s}."
                "|every spring {s} returns to {o}.|sailors know {s} as a ship of {o}.",
                "Which port does the ship {s} sail from?|Where is {s} registered?|What is the home port of {s}?"
                "|From which harbour does {s} set out?|Name the port where {s} is based.",
                "Does the ship {s} sail from {o}?|Is {o} the home port of {s}?",
            ),
            _rel(
                "captain",
                "ship",
                "captain",
                "captain",
                "{o} is the captain of {s}.|the ship {s} is led by {o}.|{o} commands the crew of {s}."
                "|under {o}, the ship {s} crossed the sea.",
                "Who is the captain of {s}?|Which captain commands {s}?|Who leads the crew of the ship {s}?"
                "|Name the person in charge of {s}.",
                "Is {o} the captain of {s}?|Does {o} command {s}?",
            ),
            _rel(
                "cargo",
                "ship",
                "cargo",
                "cargo",
                "{s} carries {o}.|the hold of {s} is full of {o}.|{s} is a {o} ship.|merchants load {o} onto {s}.",
                "What does the ship {s} carry?|What cargo is loaded onto {s}?|Which goods fill the hold of {s}?"
                "|What kind of load does {s} take to sea?",
                "Does {s} carry {o}?|Is the hold of {s} full of {o}?",
            ),
        ),
    ),
    DomainSpec(
        "astronomy",
        "star",
        (
            EntityType("star", "star", "stars", 16),
            EntityType("constellation", "constellation", "constellations", 10),
            EntityType("astronomer", "astronomer", "astronomers", 12),
            EntityType("colour", "colour", "colours", words=COLOURS),
        ),
        (
            _rel(
                "constellation",
                "star",
                "constellation",
                "constellation",
                "{s} is a star in the constellation {o}.|you can find {s} in {o}.|{o} contains the star {s}."
                "|the brightest part of {o} is near {s}.",
                "In which constellation is the star {s}?|Where in the sky can {s} be found?"
                "|Which constellation contains {s}?|Name the constellation of the star {s}.",
                "Is {s} a star in {o}?|Does {o} contain the star {s}?",
            ),
            _rel(
                "discovered_by",
                "star",
                "astronomer",
                "discoverer",
                "{s} was discovered by {o}.|{o} first saw {s} through a telescope.|the star {s} was found by {o}."
                "|{o} named the star {s}.",
                "Who discovered the star {s}?|Which astronomer first saw {s}?|Who found {s}?"
                "|Name the astronomer who found {s}.",
                "Was {s} discovered by {o}?|Did {o} find the star {s}?",
            ),
            _rel(
                "colour",
                "star",
                "colour",
                "colour",
                "{s} shines with a {o} light.|the star {s} is {o}.|{s} looks {o} in the night sky."
                "|seen from afar, {s} is a {o} point.",
                "What colour is the star {s}?|Which colour does {s} shine with?|How does {s} look in the night sky?"
                "|Name the colour of {s}.",
                "Is the star {s} {o}?|Does {s} shine with a {o} light?",
            ),
        ),
    ),
    DomainSpec(
        "geology",
        "mineral",
        (
            EntityType("mineral", "mineral", "minerals", 16),
            EntityType("region", "region", "regions", 10),
            EntityType("use", "use", "uses", words=("tools", "jewelry", "glass", "paint", "coins", "bricks")),
            EntityType("hue", "hue", "hues", words=("black", "grey", "purple", "pink", "brown", "silver")),
        ),
        (
            _rel(
                "found_in",
                "mineral",
                "region",
                "source region",
                "{s} is mined in {o}.|the hills of {o} are rich in {s}.|most {s} comes from {o}."
                "|miners dig for {s} in {o}.",
                "Where is {s} mined?|Which region is rich in {s}?|Where does most {s} come from?"
                "|Name the region where {s} is dug up.",
                "Is {s} mined in {o}?|Does most {s} come from {o}?",
            ),
            _rel(
                "used_for",
                "mineral",
                "use",
                "main use",
                "{s} is used to make {o}.|workers turn {s} into {o}.|the main use of {s} is for {o}."
                "|crafters value {s} for {o}.",
                "What is {s} used to make?|What do workers turn {s} into?|What is the main use of {s}?"
                "|Name what {s} is made into.",
                "Is {s} used to make {o}?|Do workers turn {s} into {o}?",
            ),
            _rel(
                "hue",
                "mineral",
                "hue",
                "hue",
                "{s} has a {o} hue.|a piece of {s} looks {o}.|polished {s} is {o}.",
                "What hue does {s} have?|What colour is a piece of {s}?|How does polished {s} look?",
                "Is {s} {o}?|Does {s} have a {o} hue?",
            ),
        ),
    ),
    DomainSpec(
        "zoology",
        "animal",
        (
            EntityType("animal", "animal", "animals", 16),
            EntityType("habitat", "habitat", "habitats", 10),
            EntityType("plant", "plant", "plants", 12),
        ),
        (
            _rel(
                "lives_in",
                "animal",
                "habitat",
                "habitat",
                "the {s} lives in {o}.|herds of {s} roam {o}.|{o} is home to the {s}.|you can meet the {s} in {o}.",
                "Where does the {s} live?|Which place is home to the {s}?|Where do herds of {s} roam?"
                "|Name the habitat of the {s}.",
                "Does the {s} live in {o}?|Is {o} home to the {s}?",
            ),
            _rel(
                "eats",
                "animal",
                "plant",
                "food",
                "the {s} feeds on {o}.|{o} is the favourite food of the {s}.|the {s} eats {o}."
                "|in winter the {s} survives on {o}.",
                "What does the {s} eat?|What is the favourite food of the {s}?|Which plant does the {s} feed on?"
                "|Name the food of the {s}.",
                "Does the {s} eat {o}?|Is {o} the food of the {s}?",
            ),
            _rel(
                "hunted_by",
                "animal",
                "animal",
                "predator",
                "the {s} is hunted by the {o}.|the {o} preys on the {s}.|the {s} hides from the {o}."
                "|a {o} will chase any {s} it sees.",
                "Which animal hunts the {s}?|What does the {s} hide from?|Name the predator of the {s}."
                "|Which animal preys on the {s}?",
                "Is the {s} hunted by the {o}?|Does the {o} prey on the {s}?",
            ),
        ),
    ),
    DomainSpec(
        "cooking",
        "dish",
        (
            EntityType("dish", "dish", "dishes", 16),
            EntityType("town", "town", "towns", 10),
            EntityType("ingredient", "ingredient", "ingredients", 12),
            EntityType("taste", "taste", "tastes", words=("sweet", "sour", "bitter", "salty", "spicy")),
        ),
        (
            _rel(
                "from_town",
                "dish",
                "town",
                "home town",
                "{s} is a dish from {o}.|cooks in {o} invented {s}.|{o} is famous for its {s}."
                "|every inn in {o} serves {s}.",
                "Which town is {s} from?|Where was {s} invented?|Which town is famous for {s}?"
                "|Name the home town of the dish {s}.",
                "Is {s} a dish from {o}?|Is {o} famous for {s}?",
            ),
            _rel(
                "main_ingredient",
                "dish",
                "ingredient",
                "main ingredient",
                "{s} is made with {o}.|the main ingredient of {s} is {o}.|to cook {s} you need {o}.|{s} tastes of {o}.",
                "What is {s} made with?|What is the main ingredient of {s}?|What do you need to cook {s}?"
                "|Name the key ingredient of {s}.",
                "Is {s} made with {o}?|Is {o} the main ingredient of {s}?",
            ),
            _rel(
                "taste",
                "dish",
                "taste",
                "taste",
                "{s} is a {o} dish.|{s} tastes {o}.|people describe {s} as {o}.",
                "How does {s} taste?|Is {s} sweet, sour, bitter, salty or spicy?"
                "|Describe the taste of {s} in one word.",
                "Is {s} {o}?|Does {s} taste {o}?",
            ),
        ),
    ),
)

# Question wordings any relation can take in the other domains ("What is the home port of X?").
GENERIC_QUESTIONS = (
    "What is the {noun} of {s}?",
    "Tell me the {noun} of {s}.",
    "Give the {noun} of {s}.",
    "{s}: what is its {noun}?",
)
