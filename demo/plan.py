"""What the demo trials contain, decided before anything is written: the roster, the published
figures the answers follow, who is absent, who withdraws. Plain values and numpy; no Django.

Every draw comes from a stream named for its purpose (`stream(seed, "screening")`), so one
step's draws never shift another's and a fixed seed gives the same data.
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

from demo.simulation import ScaleShape, simulate_answers
from instruments.keys import Key

ARMS = ("compassion", "mentalization", "waitlist")
TIME_POINTS = ("pretest", "posttest", "followup")


def stream(seed: int, purpose: str) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(purpose.encode())])


# The published figures -------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """Means and SDs of the total at pretest, posttest and follow-up."""

    means: tuple[float, ...]
    sds: tuple[float, ...]


# ../shared/spec/INSTRUMENTS.md, "Published figures": n = 20 per arm.
PUBLISHED = {
    "cdrisc": {
        "compassion": Target((59.20, 65.80, 66.00), (8.81, 9.17, 9.63)),
        "mentalization": Target((58.70, 62.85, 61.90), (4.49, 5.16, 4.39)),
        "waitlist": Target((58.65, 57.80, 58.00), (5.19, 4.98, 5.51)),
    },
    "wssi": {
        "compassion": Target((54.85, 69.40, 68.85), (11.11, 10.82, 11.39)),
        "mentalization": Target((56.35, 62.85, 62.25), (6.01, 10.59, 8.37)),
        "waitlist": Target((54.95, 53.05, 53.75), (7.93, 9.90, 9.45)),
    },
    "pss": {
        # The printed follow-up mean 34.45 is kept although paper 2's ANOVA sums of squares fit
        # 34.65 (INSTRUMENTS.md): 0.2 is a fifth of its standard error.
        "compassion": Target((42.55, 34.45, 34.45), (5.64, 5.64, 4.89)),
        "mentalization": Target((43.75, 38.35, 38.00), (4.38, 4.28, 3.42)),
        "waitlist": Target((43.75, 44.15, 43.00), (4.67, 3.94, 4.12)),
    },
    "ryff": {
        "compassion": Target((46.35, 54.30, 53.55), (5.99, 6.38, 6.14)),
        "mentalization": Target((44.50, 50.45, 49.10), (4.55, 5.40, 5.55)),
        "waitlist": Target((46.75, 46.90, 46.85), (5.41, 5.17, 4.49)),
    },
    # No burnout scores after screening are published (re-measuring burnout is our addition).
    # Ours: paper 1's M = 66.00 read as the participants' mean at pretest; the active arms lose
    # about as much (in SD units) as they gain in resilience, the waitlist stays put.
    "mbi": {
        "compassion": Target((66.00, 57.50, 58.00), (6.00, 7.00, 7.20)),
        "mentalization": Target((66.00, 59.50, 60.00), (6.00, 6.50, 6.80)),
        "waitlist": Target((66.00, 65.50, 65.00), (6.00, 6.20, 6.50)),
    },
}

# Cronbach's α in the trial: paper 1 (CD-RISC .78), paper 2 (PSS .73, Ryff .88, MBI total .89).
# WSSI's is not reported: .88 is ours.
ALPHA = {"cdrisc": 0.78, "wssi": 0.88, "pss": 0.73, "ryff": 0.88, "mbi": 0.89}
# Correlation of a person's totals over time. INSTRUMENTS.md infers about .9 (CD-RISC), .4–.6
# (WSSI), .78 (PSS) and .87 (Ryff) from the published errors; MBI's .75 is ours.
RETEST = {"cdrisc": 0.90, "wssi": 0.50, "pss": 0.78, "ryff": 0.87, "mbi": 0.75}

# Helping the Helper names no instruments and publishes no figures: WSSI before and after, with
# a gain large enough that some of the six change reliably and some do not (ours).
HELPER_TARGET = Target((61.50, 72.00), (9.00, 8.50))
HELPER_RETEST = 0.75

# Screening: about 68 of 120 pass (MBI total ≥ 60), so that after a few fail a criterion or
# decline, exactly 60 are randomized (20 per arm, the studies' design).
ROSTER_SIZE = 120
NOT_RETURNED = 2  # screening questionnaires never handed back
PASSING = 68
SCREEN_CUTOFF = 60.0
CANNOT_ATTEND = 3  # eligibility: cannot come to 12 weekly sessions (shift work)
BELOW_GRADE_9 = 2  # eligibility: education below lower-secondary
DECLINED = 3  # eligible, but did not consent
ENROLLED = PASSING - CANNOT_ATTEND - BELOW_GRADE_9 - DECLINED
HELPER_SIZE = 6


def shape_of(key: Key, alpha: float) -> ScaleShape:
    """The simulation's view of an instrument's scoring key (reverse items by position)."""
    positions = tuple(index for index, item in enumerate(key.items) if item in key.reverse)
    return ScaleShape(n_items=len(key.items), minimum=key.scale_min, maximum=key.scale_max, reverse=positions, alpha=alpha)


def keyed_totals(answers: np.ndarray, shape: ScaleShape) -> np.ndarray:
    """Sum totals of raw answers (people × time points × items), reverse items turned back."""
    keyed = answers.astype(float)
    if shape.reverse:
        reverse = list(shape.reverse)
        keyed[..., reverse] = shape.minimum + shape.maximum - keyed[..., reverse]
    return keyed.sum(axis=-1)


def closest_draw(shape: ScaleShape, target: Target, *, n_people: int, rho: float, rng: np.random.Generator,
                 draws: int = 12) -> np.ndarray:
    """Answers of `n_people`: the one of `draws` simulated samples whose means and SDs lie closest
    to the target, in standard errors (SE of a mean s/√n, of an SD about s/√(2(n − 1))).

    A single sample of 20 strays from the published figures by its sampling error; the demo
    should give a report readers of the studies recognise, so it keeps the most typical draw.
    """
    pool = simulate_answers(shape, means=list(target.means), sds=list(target.sds), n_people=n_people * draws,
                            rho=rho, rng=rng)
    means, sds = np.array(target.means), np.array(target.sds)
    best, best_loss = None, np.inf
    for k in range(draws):
        sample = pool[k * n_people:(k + 1) * n_people]
        totals = keyed_totals(sample, shape)
        z_mean = (totals.mean(axis=0) - means) / (sds / np.sqrt(n_people))
        z_sd = (totals.std(axis=0, ddof=1) - sds) / (sds / np.sqrt(2 * (n_people - 1)))
        loss = float((z_mean**2).sum() + (z_sd**2).sum())
        if loss < best_loss:
            best, best_loss = sample, loss
    return best


# The roster --------------------------------------------------------------------------------------

FIRST_NAMES_MALE = (
    "Ali", "Mohammad", "Hossein", "Reza", "Mehdi", "Hamid", "Saeed", "Majid", "Ahmad", "Javad", "Amir",
    "Hassan", "Mojtaba", "Morteza", "Mostafa", "Abbas", "Mahmoud", "Ebrahim", "Karim", "Omid", "Behrouz",
    "Farhad", "Davood", "Yousef", "Rasoul", "Masoud", "Naser", "Alireza", "Hadi", "Vahid",
)
FIRST_NAMES_FEMALE = ("Fatemeh", "Zahra", "Maryam", "Masoumeh", "Leila", "Narges", "Somayeh", "Elham", "Mahsa", "Parisa")
SURNAMES = (
    "Ahmadi", "Hosseini", "Mohammadi", "Rezaei", "Karimi", "Moradi", "Jafari", "Rahimi", "Sadeghi", "Heydari",
    "Kazemi", "Ghasemi", "Nouri", "Salehi", "Abbasi", "Rostami", "Kiani", "Esfahani", "Najafabadi", "Shahrezaei",
    "Kashani", "Zarei", "Bagheri", "Taheri", "Asadi", "Soltani", "Amini", "Mousavi", "Hashemi", "Yazdani",
)
DEPARTMENTS = ("Casting", "Machining", "Assembly", "Maintenance", "Quality control", "Warehouse", "Paint shop")
EDUCATION_GRADES = (9, 10, 11, 12, 14, 16)
EDUCATION_WEIGHTS = (0.16, 0.05, 0.05, 0.44, 0.15, 0.15)


@dataclass
class Worker:
    worker_id: str
    name: str
    email: str
    years_of_service: int
    education_grade: int
    sex: str
    site: str


def roster(seed: int, size: int = ROSTER_SIZE) -> list[Worker]:
    """Factory workers with at least 5 years of service (the studies' population); contacts are
    example.org addresses, and some workers have none (they get printed slips)."""
    rng = stream(seed, "roster")
    workers, names, emails = [], set(), set()
    for number in range(size):
        sex = "female" if rng.random() < 0.15 else "male"
        firsts = FIRST_NAMES_FEMALE if sex == "female" else FIRST_NAMES_MALE
        while True:
            first, last = str(rng.choice(firsts)), str(rng.choice(SURNAMES))
            if f"{first} {last}" not in names:
                break
        names.add(f"{first} {last}")
        email = ""
        if rng.random() < 0.88:
            email = f"{first}.{last}".lower() + "@example.org"
            if email in emails:
                email = f"{first}.{last}{number}".lower() + "@example.org"
            emails.add(email)
        workers.append(Worker(
            worker_id=f"W{1001 + number}", name=f"{first} {last}", email=email,
            years_of_service=int(5 + rng.gamma(2.0, 4.0)) if rng.random() < 0.97 else 5,
            education_grade=int(rng.choice(EDUCATION_GRADES, p=EDUCATION_WEIGHTS)),
            sex=sex, site=str(rng.choice(DEPARTMENTS)),
        ))
    return workers


HELPER_PEOPLE = (
    # (worker id, name, sex, profession, education grade, years in practice): five psychologists
    # and a psychiatrist of an outpatient clinic (PRODUCT.md).
    ("HH01", "Lucía Hernández", "female", "Psychologist", 18, 9),
    ("HH02", "Diego Ramírez", "male", "Psychologist", 18, 6),
    ("HH03", "Mariana López", "female", "Psychologist", 18, 12),
    ("HH04", "Andrés Castillo", "male", "Psychologist", 16, 4),
    ("HH05", "Gabriela Torres", "female", "Psychologist", 18, 15),
    ("HH06", "Jorge Medina", "male", "Psychiatrist", 22, 11),
)


# Screening -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScreeningPlan:
    answers: dict[str, np.ndarray]  # worker id -> raw MBI answers (one per item)
    passing: tuple[str, ...]  # worker ids whose total reaches the cutoff
    not_returned: tuple[str, ...]


def screening(workers: list[Worker], shape: ScaleShape, total_of, seed: int) -> ScreeningPlan:
    """MBI answers for the roster: PASSING workers at or above the cutoff, the rest below it.

    Drawn from two groups (high and moderate burnout) and kept by their total, so the number
    passing is exact; `total_of(raw answers)` is the instrument's own scoring.
    """
    rng = stream(seed, "screening")
    order = list(rng.permutation(len(workers)))
    passing_ids = [workers[i].worker_id for i in order[:PASSING]]
    not_returned = [workers[i].worker_id for i in order[PASSING:PASSING + NOT_RETURNED]]
    below_ids = [workers[i].worker_id for i in order[PASSING + NOT_RETURNED:]]

    def kept(mean: float, wanted: int, keep) -> list[np.ndarray]:
        pool = simulate_answers(shape, means=[mean], sds=[7.0], n_people=wanted * 4, rho=0.5, rng=rng)[:, 0, :]
        chosen = [row for row in pool if keep(total_of(row))][:wanted]
        if len(chosen) < wanted:
            raise ValueError(f"screening simulation: only {len(chosen)} of {wanted} draws fit; widen the pool")
        return chosen

    high = kept(69.0, len(passing_ids), lambda total: total >= SCREEN_CUTOFF)
    moderate = kept(50.0, len(below_ids), lambda total: total < SCREEN_CUTOFF)
    answers = dict(zip(passing_ids, high, strict=True)) | dict(zip(below_ids, moderate, strict=True))
    return ScreeningPlan(answers=answers, passing=tuple(passing_ids), not_returned=tuple(not_returned))


@dataclass(frozen=True)
class EnrollmentPlan:
    """Who of those passing screening is not eligible (and why) and who declines to consent."""

    below_grade_9: dict[str, int]  # worker id -> the grade the roster gives instead
    cannot_attend: frozenset[str]
    declined: frozenset[str]


def enrollment(passing: tuple[str, ...], seed: int) -> EnrollmentPlan:
    rng = stream(seed, "eligibility")
    order = [passing[i] for i in rng.permutation(len(passing))]
    below = order[:BELOW_GRADE_9]
    cannot_attend = order[BELOW_GRADE_9:BELOW_GRADE_9 + CANNOT_ATTEND]
    declined = order[BELOW_GRADE_9 + CANNOT_ATTEND:PASSING - ENROLLED]
    return EnrollmentPlan(
        below_grade_9={worker_id: int(rng.choice([6, 8])) for worker_id in below},
        cannot_attend=frozenset(cannot_attend), declined=frozenset(declined),
    )


# Sessions ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CoursePlan:
    """Positions within each arm's members (ordered by worker id): the one who withdraws, the
    often absent, and the follow-ups that never come back."""

    withdrawn: tuple[str, int]  # (arm, position)
    often_absent: dict[str, tuple[int, ...]]
    no_follow_up: dict[str, int]


def course(arm_sizes: dict[str, int], seed: int, *, active: tuple[str, ...] = ("compassion", "mentalization")) -> CoursePlan:
    rng = stream(seed, "course")
    withdrawn = (active[-1], int(rng.integers(arm_sizes[active[-1]])))
    often_absent = {}
    for arm in active:
        candidates = [i for i in range(arm_sizes[arm]) if (arm, i) != withdrawn]
        often_absent[arm] = tuple(int(i) for i in rng.choice(candidates, size=2, replace=False))
    no_follow_up = {}
    for arm, size in arm_sizes.items():
        candidates = [i for i in range(size) if (arm, i) != withdrawn]
        no_follow_up[arm] = candidates[int(rng.integers(len(candidates)))]
    return CoursePlan(withdrawn=withdrawn, often_absent=often_absent, no_follow_up=no_follow_up)


@dataclass(frozen=True)
class Roll:
    """One member's roll call over the course: (status, homework) per session; None = not recorded."""

    entries: tuple[tuple[str, str] | None, ...]

    @property
    def absences(self) -> int:
        return sum(1 for entry in self.entries if entry and entry[0] in ("absent", "excused"))


def attendance(n_members: int, n_sessions: int, *, rng: np.random.Generator, heavy: tuple[int, ...] = (),
               withdrawn: int | None = None, withdrawn_after: int = 0) -> list[Roll]:
    """Realistic roll calls: most members miss 0–2 sessions, the `heavy` ones 3–4 (over the
    model trial's threshold of more than two); a withdrawn member's roll stops at withdrawal."""
    rolls = []
    for member in range(n_members):
        if member in heavy:
            missed_count = int(rng.choice([3, 4]))
        else:
            missed_count = int(rng.choice([0, 1, 2], p=[0.5, 0.33, 0.17]))
        missed = set(rng.choice(n_sessions, size=missed_count, replace=False).tolist())
        entries = []
        for number in range(n_sessions):
            excused = rng.random() < 0.35
            homework = str(rng.choice(["done", "partly", "not_done"], p=[0.7, 0.2, 0.1]))
            if member == withdrawn and number >= withdrawn_after:
                entries.append(None)
            elif member == withdrawn or number not in missed:
                entries.append(("present", homework))
            else:
                entries.append(("excused" if excused else "absent", ""))
        rolls.append(Roll(tuple(entries)))
    return rolls
