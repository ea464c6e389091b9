"""``rahat bench claims``: a synthetic claims stream checked against a synthetic registry.

Built in memory from seed :data:`SEED` (nothing cached):

- a registry of ``households`` households in :data:`TEHSILS` tehsils (P-codes ``PKT0001`` ...,
  five to a district), each with a CNIC made here (13 digits, unique, an affine permutation)
  and its token under a bench secret, so the raw numbers exist only in this process;
- a run's caseload: the households of the first :data:`EXPOSED_SHARE` of the tehsils are
  exposed; of those, a fifth are selected (ranks 1...), a fifth cut by the budget, the rest not
  eligible; written to a temporary ``caseload.parquet`` and read back with
  :func:`rahat.engine.claims.run.load_run`;
- ``claims`` claims (a CSV in the temporary folder) with the truth of each: claimants of each
  standing (selected, cut, not eligible, registered outside the footprint, unregistered in
  and outside the footprint stating a tehsil), invalid CNICs (12 digits, letters, one
  repeated digit), duplicates of earlier claims appended at the end, a stated tehsil that is
  not the household's, and groups of :data:`VELOCITY_GROUP` CNICs behind one phone (among
  registered claimants);
- a name and an address for every unregistered claimant (half the addresses with a house and
  street number), and :data:`HOUSEHOLD_SHARE` more claims from the same households under
  another CNIC (another member: same phone, another name, same address; or the same person
  with one wrong letter in the name and one in the address, another phone; or the name's
  words reordered, case and punctuation changed, no phone).

Measured: reading and tokenising the claims (``read_s``), deciding them (``decide_s``; the
registry's tokens sorted, the caseload read and the identity kernels loaded beforehand,
``load_s``: a server holds all three), writing the outputs
(``write_s``), and grouping the unregistered into probable households (``group_s``, not in
``seconds``). ``seconds`` is read plus decide; ``claims_per_s`` is ``claims / seconds``;
``peak_rss_mb`` the process's peak from loading on, of which ``inputs_rss_mb`` was already
held by the synthetic inputs when loading began. ``reasons`` gives per reason code the
precision and recall of the claims carrying it against the truth, and its support (claims
truly carrying it). ``duplicate_groups`` gives the pairwise precision and recall of the
grouping (pairs of claims put in one group against pairs from one household), the true pairs
(``support``), the groups and the claims in them.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from rahat.benchmarks.common import peak_rss_mb, reset_peak_rss, rss_mb

#: Seed of every draw.
SEED = 17
#: Tehsils of the synthetic registry.
TEHSILS = 500
#: Share of the tehsils exposed in the run.
EXPOSED_SHARE = 0.3
#: CNICs behind one phone in a ``phone_velocity`` group (the issue's "one phone for 30").
VELOCITY_GROUP = 30
#: Bench secret (the tokens are the bench's own).
SECRET = b"rahat-bench-claims-secret-0123456789abcdef"
#: Share of each standing among the claims (the rest: unregistered outside the footprint).
SHARES: dict[str, float] = {
    "in_caseload": 0.2,
    "eligible_not_selected": 0.1,
    "registered_not_eligible": 0.15,
    "registered_outside_footprint": 0.15,
    "not_registered_in_footprint": 0.1,
    "invalid_cnic": 0.05,
}
#: Shares of duplicates (appended), stated-tehsil mismatches, claims in velocity groups.
DUPLICATE_SHARE, MISMATCH_SHARE, VELOCITY_SHARE = 0.05, 0.05, 0.01
#: Share (of the claims before duplicates) of second claims from an unregistered household.
HOUSEHOLD_SHARE = 0.02
#: Word pools (space-separated) of the unregistered claimants' names (given, father's,
#: family) and addresses.
GIVEN = (
    "Muhammad Ahmed Ali Bilal Usman Imran Asif Tariq Zahid Naveed Shahid Khalid Rashid Sajid "
    "Abdul Ghulam Fatima Ayesha Zainab Sana Amna Bushra Nasreen Shazia Rubina Kamran Faisal "
    "Adnan Waqas Junaid Saima Nadia Hina Farzana Parveen Shabana Rizwan Irfan Aslam Akram "
    "Nasir Javed Yasir Sohail Arshad Hamid Sadia Uzma Kulsoom Razia Samina Jamil Latif Qasim "
    "Rafiq Saleem Shakeel Wasim Zubair Anwar"
)
FAMILY = (
    "Khan Shah Baloch Memon Jatoi Soomro Bhutto Chandio Mahar Abbasi Qureshi Siddiqui Ansari "
    "Rajput Arain Jat Awan Leghari Mazari Brohi Khoso Lashari Solangi Panhwar Magsi Junejo "
    "Kalhoro Dahri Unar Sial Gondal Bhatti Malik Mirza Sheikh Butt Niazi Khattak Yousafzai "
    "Marri"
)
PLACES = (
    "Jadeed Purana Sharqi Gharbi Noorpur Rahimabad Allahabad Faizabad Bismillah Madina "
    "Ghausia Usmania Farooqia Muslimabad Hussainabad Qadirabad Karimabad Bilawalpur "
    "Daulatpur Khairpur Sultanabad Mehrabpur Chak Goth Basti Dera Wandh Kot Pir Miani"
)
#: Truth key of the household of each unregistered claim (-1 for the others).
HOUSEHOLD_KEY = "household"

_P = 8_999_999_999_989  # a prime below 9e12: i -> (a i + b) mod p is a permutation
_REGISTERED = (
    "in_caseload",
    "eligible_not_selected",
    "registered_not_eligible",
    "registered_outside_footprint",
)


def cnic_numbers(index: np.ndarray, offset: int) -> np.ndarray:
    """Distinct 13-digit CNIC numbers (as int64) for distinct ``index`` (< ``_P``)."""
    return 1_000_000_000_000 + (index.astype(np.int64) * 7_919 + offset) % _P


def _text(numbers: np.ndarray) -> list[str]:
    return [f"{n:013d}" for n in numbers.tolist()]


@dataclass
class Bench:
    """The synthetic inputs: the registry, the caseload's folder, the claims file and truth."""

    registry: Any
    run_dir: Path
    claims_csv: Path
    truth: dict[str, np.ndarray]
    household: np.ndarray


def _registry(households: int, rng: np.random.Generator) -> tuple[Any, np.ndarray]:
    """A registry with tokens; returns it and each household's CNIC number."""
    from rahat.geo.registry.identity import tokens
    from rahat.geo.registry.model import Registry

    tehsil = rng.integers(0, TEHSILS, households)
    names = np.array([f"Tehsil {t}" for t in range(TEHSILS)])
    pcodes = np.array([f"PKT{t:04d}" for t in range(TEHSILS)])
    cnic = cnic_numbers(np.arange(households), 3_000_000)
    frame = pd.DataFrame(
        {
            "household_id": np.arange(1, households + 1, dtype=np.int64),
            "district": pd.Categorical.from_codes(
                tehsil // 5, pd.Index([f"District {d}" for d in range(TEHSILS // 5)])
            ),
            "tehsil": pd.Categorical.from_codes(tehsil, pd.Index(names)),
            "district_pcode": pd.Categorical.from_codes(
                tehsil // 5, pd.Index([f"PKD{d:03d}" for d in range(TEHSILS // 5)])
            ),
            "tehsil_pcode": pd.Categorical.from_codes(tehsil, pd.Index(pcodes)),
            "cnic_token": tokens(_text(cnic), SECRET),
        }
    )
    return Registry.from_frame(frame, source="bench"), cnic


def _caseload(registry: Any, folder: Path, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Write the run's caseload; return the household positions of each standing."""
    tehsil = registry.frame["tehsil"].cat.codes.to_numpy()
    exposed = np.flatnonzero(tehsil < int(TEHSILS * EXPOSED_SHARE))
    draw = rng.random(len(exposed))
    selected, cut = exposed[draw < 0.2], exposed[(draw >= 0.2) & (draw < 0.4)]
    not_eligible = exposed[draw >= 0.4]
    rows = np.concatenate([selected, cut, not_eligible])
    decision = np.repeat([0, 1, 3], [len(selected), len(cut), len(not_eligible)])
    rank = np.concatenate(
        [np.arange(1, len(selected) + len(cut) + 1), np.full(len(not_eligible), -1)]
    )
    causes = [
        "selected: within the budget",
        f"budget: cut at rank {len(selected) + 1} (score 0.41 < 0.42 at the cut)",
        "pmt<=32: fail (41.2)",
    ]
    lon = 60.0 + (tehsil[rows] % 25) * 0.5 + rng.uniform(-0.1, 0.1, len(rows))
    lat = 24.0 + (tehsil[rows] // 25) * 0.5 + rng.uniform(-0.1, 0.1, len(rows))
    from rahat.engine.targeting.caseload import DECISIONS

    table = pa.table(
        {
            "household_id": registry.household_id[rows],
            "rank": pa.array(rank, mask=rank < 0),
            "exposed": np.ones(len(rows), dtype=bool),
            "amount": np.where(decision == 0, 30_000, 0),
            "decision": pd.Categorical.from_codes(decision, pd.Index(DECISIONS)),
            "reasons": pd.Categorical.from_codes(np.minimum(decision, 2), pd.Index(causes)),
            "tehsil": registry.frame["tehsil"].to_numpy()[rows],
            "tehsil_pcode": registry.frame["tehsil_pcode"].to_numpy()[rows],
            "lon": lon,
            "lat": lat,
        }
    )
    table = table.set_column(5, "reasons", table.column("reasons").cast(pa.string()))
    pq.write_table(table, folder / "caseload.parquet")
    outside = np.flatnonzero(tehsil >= int(TEHSILS * EXPOSED_SHARE))
    return {
        "in_caseload": selected,
        "eligible_not_selected": cut,
        "registered_not_eligible": not_eligible,
        "registered_outside_footprint": outside,
    }


def _pick(pool: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    return rng.choice(pool, size=min(k, len(pool)), replace=False) if len(pool) else pool


def _people(m: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Names (given, father's, family) and addresses of ``m`` claimants, half with numbers."""
    given, family, places = (np.array(w.split(), dtype=object) for w in (GIVEN, FAMILY, PLACES))

    def draw(words: np.ndarray) -> pd.Series:
        return pd.Series(words[rng.integers(0, len(words), m)])

    name = draw(given) + " " + draw(given) + " " + draw(family)
    numbers = pd.Series(rng.integers(1, 500, m)).astype(str)
    street = pd.Series(rng.integers(1, 30, m)).astype(str)
    house = ("House " + numbers + ", Street " + street + ", ").where(rng.random(m) < 0.5, "")
    address = house + "Mohalla " + draw(places) + ", Village " + draw(places)
    return name.to_numpy(dtype=object), address.to_numpy(dtype=object)


def _typo(text: str, where: int) -> str:
    """``text`` with its ``where``-th letter (modulo the letters) replaced by the next one."""
    letters = [i for i, c in enumerate(text) if c.isalpha()]
    i = letters[where % len(letters)]
    c = text[i]
    new = "a" if c.lower() == "z" else chr(ord(c.lower()) + 1)
    return text[:i] + (new.upper() if c.isupper() else new) + text[i + 1 :]


def _same_households(
    frame: pd.DataFrame, rows: np.ndarray, rng: np.random.Generator
) -> pd.DataFrame:
    """A second claim (another CNIC) from the household of each of ``rows``, indexed by it.

    In turn: another member (same phone and address, another name); the same person with one
    wrong letter in the name and one in the address, from another phone; the same person with
    the name's words reordered and case and punctuation changed, without a phone.
    """
    again = frame.iloc[rows].copy()
    again.index = rows
    again["cnic"] = _text(cnic_numbers(1_000_000_000 + np.arange(len(rows)), 7 * 10**12))
    kind = np.arange(len(rows)) % 3
    other = _people(len(rows), rng)[0]
    where = rng.integers(0, 1_000, (len(rows), 2)).tolist()
    names, addresses = again["name"].tolist(), again["address"].tolist()
    for i, k in enumerate(kind.tolist()):
        if k == 0:
            names[i] = other[i]
        elif k == 1:
            names[i], addresses[i] = _typo(names[i], where[i][0]), _typo(addresses[i], where[i][1])
        else:
            words = names[i].split()
            names[i] = ", ".join([words[-1].upper(), *words[:-1]])
            addresses[i] = addresses[i].upper().replace(",", " -")
    again["name"], again["address"] = names, addresses
    phone = np.array([f"0301{p:07d}" for p in range(len(rows))], dtype=object)
    again["phone"] = np.where(kind == 0, again["phone"], np.where(kind == 1, phone, ""))
    return again


def _claims(
    n: int,
    cnic: np.ndarray,
    pools: dict[str, np.ndarray],
    pcodes: np.ndarray,
    rng: np.random.Generator,
) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """The claims (raw text) and the standing of each."""
    exposed_t = int(TEHSILS * EXPOSED_SHARE)
    tehsil = np.asarray(pcodes)
    parts: list[pd.DataFrame] = []
    originals = int(n / (1 + DUPLICATE_SHARE + HOUSEHOLD_SHARE))
    for standing in (*SHARES, "not_registered_outside_footprint"):
        k = int(originals * SHARES.get(standing, 0.0)) if standing in SHARES else None
        if standing in _REGISTERED:
            rows = _pick(pools[standing], k or 0, rng)
            text, stated = _text(cnic[rows]), tehsil[rows]
        elif standing == "invalid_cnic":
            m = k or 0
            text = [("1" * 13, "123456789012", "12345-ABCDEFG-1")[i % 3] for i in range(m)]
            stated = np.full(m, "PKT0000", dtype=object)
        else:
            m = k if k is not None else originals - sum(len(p) for p in parts)
            half = 0 if standing == "not_registered_in_footprint" else 500_000_000
            fresh = cnic_numbers(half + rng.choice(500_000_000, m, replace=False), 7 * 10**12)
            text = _text(fresh)
            low, high = (
                (0, exposed_t)
                if standing == "not_registered_in_footprint"
                else (exposed_t, TEHSILS)
            )
            stated = np.array([f"PKT{t:04d}" for t in rng.integers(low, high, m)], dtype=object)
        parts.append(pd.DataFrame({"cnic": text, "stated_tehsil": stated, "standing": standing}))
    frame = pd.concat(parts, ignore_index=True)
    frame = frame.take(rng.permutation(len(frame))).reset_index(drop=True)
    registered = frame["standing"].isin(_REGISTERED).to_numpy()
    mismatch = registered & (rng.random(len(frame)) < MISMATCH_SHARE)
    wrong = (pd.Series(frame["stated_tehsil"]).str[3:].astype(int) + 1) % TEHSILS
    frame.loc[mismatch, "stated_tehsil"] = [f"PKT{t:04d}" for t in wrong[mismatch]]
    phone = np.arange(len(frame), dtype=np.int64)
    valid = frame["standing"].to_numpy() != "invalid_cnic"
    groups = max(int(len(frame) * VELOCITY_SHARE) // VELOCITY_GROUP, 1)
    grouped = np.flatnonzero(registered)[: groups * VELOCITY_GROUP]
    phone[grouped] = grouped[::VELOCITY_GROUP].repeat(VELOCITY_GROUP)
    velocity = np.zeros(len(frame), dtype=bool)
    velocity[grouped] = True
    frame["phone"] = [f"0300{p:07d}" for p in phone.tolist()]
    unregistered = np.flatnonzero(frame["standing"].str.startswith("not_registered").to_numpy())
    frame["name"], frame["address"] = "", ""
    frame.loc[unregistered, "name"], frame.loc[unregistered, "address"] = _people(
        len(unregistered), rng
    )
    household = np.full(len(frame), -1, dtype=np.int64)
    household[unregistered] = unregistered
    again = _same_households(frame, _pick(unregistered, int(originals * HOUSEHOLD_SHARE), rng), rng)
    frame = pd.concat([frame, again], ignore_index=True)
    household = np.r_[household, again.index.to_numpy()]
    mismatch, velocity = (np.r_[x, np.zeros(len(again), dtype=bool)] for x in (mismatch, velocity))
    valid = frame["standing"].to_numpy() != "invalid_cnic"
    copies = rng.choice(np.flatnonzero(valid), size=int(originals * DUPLICATE_SHARE), replace=False)
    frame = pd.concat([frame, frame.iloc[copies]], ignore_index=True)
    mismatch, velocity = (
        np.concatenate([mismatch, mismatch[copies]]),
        np.concatenate([velocity, velocity[copies]]),
    )
    household = np.r_[household, np.full(len(copies), -1)]
    told = frame.pop("standing").to_numpy()
    truth: dict[str, np.ndarray] = {
        code: np.asarray(told == code) for code in (*SHARES, "not_registered_outside_footprint")
    }
    truth["duplicate_claim"] = np.arange(len(frame)) >= len(frame) - len(copies)
    truth["stated_location_mismatch"], truth["phone_velocity"] = mismatch, velocity
    truth[HOUSEHOLD_KEY] = household
    return frame, truth


def build_bench(claims: int, households: int, folder: Path) -> Bench:
    """Build the registry, the run folder and the claims file in ``folder``."""
    rng = np.random.default_rng(SEED)
    registry, cnic = _registry(households, rng)
    run_dir = folder / "run"
    run_dir.mkdir()
    pools = _caseload(registry, run_dir, rng)
    pcodes = registry.frame["tehsil_pcode"].astype(str).to_numpy()
    frame, truth = _claims(claims, cnic, pools, pcodes, rng)
    household = truth.pop(HOUSEHOLD_KEY)
    path = folder / "claims.csv"
    frame.to_csv(path, index=False)
    return Bench(
        registry=registry, run_dir=run_dir, claims_csv=path, truth=truth, household=household
    )


def scores(decided: Any, truth: dict[str, np.ndarray]) -> dict[str, dict[str, float | int]]:
    """Precision, recall and support of each reason code against the truth."""
    out: dict[str, dict[str, float | int]] = {}
    for code, true in truth.items():
        said = decided.has(code)
        hit = int((said & true).sum())
        out[code] = {
            "precision": round(hit / max(int(said.sum()), 1), 6)
            if said.any()
            else float(not true.any()),
            "recall": round(hit / int(true.sum()), 6) if true.any() else 1.0,
            "support": int(true.sum()),
        }
    return out


def pair_scores(group: np.ndarray, household: np.ndarray) -> dict[str, float | int]:
    """Pairwise precision and recall of ``group`` (-1: alone) against ``household`` (-1: none).

    A predicted pair is two claims in one group; a true pair two claims of one household.
    """

    def pairs(*keys: np.ndarray) -> int:
        keep = np.logical_and.reduce([k >= 0 for k in keys])
        if not keep.any():
            return 0
        counts = pd.DataFrame([k[keep] for k in keys]).T.value_counts().to_numpy()
        return int((counts * (counts - 1) // 2).sum())

    said, true, hit = pairs(group), pairs(household), pairs(group, household)
    return {
        "precision": round(hit / said, 6) if said else float(not true),
        "recall": round(hit / true, 6) if true else 1.0,
        "support": true,
        "groups": len(np.unique(group[group >= 0])),
        "claims": int((group >= 0).sum()),
    }


def run_claims_bench(claims: int, households: int) -> dict[str, Any]:
    """Build the inputs, check the claims, and report times, memory and precision/recall."""
    from rahat.engine.claims.decide import RegistryIndex, decide_claims
    from rahat.engine.claims.duplicates import group_unregistered
    from rahat.engine.claims.outputs import write_claims_outputs
    from rahat.engine.claims.read import read_claims
    from rahat.engine.claims.run import load_run
    from rahat.geo.registry.identity import cnic_tokens, phone_tokens

    with tempfile.TemporaryDirectory(prefix="rahat-bench-claims-") as tmp:
        started = time.perf_counter()
        bench = build_bench(claims, households, Path(tmp))
        build_s = time.perf_counter() - started
        inputs_mb = rss_mb()
        reset_peak_rss()
        t0 = time.perf_counter()
        index = RegistryIndex.build(bench.registry)
        run = load_run(bench.run_dir)
        cnic_tokens(["4210112345671"], SECRET), phone_tokens(["03001234567"], SECRET)
        t1 = time.perf_counter()
        batch = read_claims(bench.claims_csv, SECRET)
        t2 = time.perf_counter()
        decided = decide_claims(batch, index, run)
        t3 = time.perf_counter()
        groups = group_unregistered(batch, decided)
        t4 = time.perf_counter()
        write_claims_outputs(
            Path(tmp) / "out", batch, decided, velocity=5, totals=run.totals, groups=groups
        )
        t5 = time.perf_counter()
    seconds = t3 - t1
    return {
        "claims": len(batch),
        "households": households,
        "seconds": round(seconds, 3),
        "claims_per_s": round(len(batch) / seconds),
        "read_s": round(t2 - t1, 3),
        "decide_s": round(t3 - t2, 3),
        "load_s": round(t1 - t0, 3),
        "group_s": round(t4 - t3, 3),
        "write_s": round(t5 - t4, 3),
        "build_s": round(build_s, 3),
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "inputs_rss_mb": round(inputs_mb, 1),
        "reasons": scores(decided, bench.truth),
        "duplicate_groups": pair_scores(groups.group, bench.household),
    }
