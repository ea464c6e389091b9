"""Probable duplicate households among claimants who are not in the registry.

Two claims whose decision is ``not_registered_in_footprint``, ``not_registered_outside_footprint``
or (without a run) ``not_registered`` are **linked** when they state the same tehsil (compared
case-folded, :func:`rahat.engine.claims.lookup.fold_codes`; a P-code and a name of one tehsil
are different texts here) and

* ``phone``: they give the same phone (token), unless that phone is flagged
  ``phone_velocity`` (a phone behind that many CNICs says nothing about one household; such
  claims can still link by name and address); or
* ``name+address``: their normalised names score at least :data:`NAME_MIN_SCORE` and their
  normalised addresses at least :data:`ADDRESS_MIN_SCORE` (both must be given).

Linked claims form groups (connected components, :func:`scipy.sparse.csgraph.connected_components`):
a group is a probable household that claimed more than once under different CNICs (a repeat of
the same CNIC is already ``duplicate_claim``). A claim with no stated tehsil is never grouped.

**Scores.** Names and addresses are case-folded and every run of characters that are not
letters or digits becomes one space (:func:`rapidfuzz.utils.default_process`); the score of two
texts is the higher of :func:`rapidfuzz.fuzz.ratio` (0-100, from the Indel distance) of them as
written and of them with their words sorted (:func:`rapidfuzz.fuzz.token_sort_ratio`): case,
punctuation and word order do not count, and a wrong first letter that moves a word in the
sorted order still scores as one wrong letter in the order written. One wrong letter in an
11-letter name scores 90.9, in a 30-letter address 96.7. Two addresses must also hold the same
numbers (house, street: every run of digits, compared exactly): "House 12" and "House 13" are
neighbours, not one household.

**Cost.** Claims are compared only within a block: one tehsil and one set of address numbers.
Blocks of up to :data:`SMALL_BLOCK` claims have all their pairs listed and scored together
(:func:`rapidfuzz.process.cpdist`, :data:`PAIR_BATCH` pairs at a time); in a larger block the
names are compared all against all (:func:`rapidfuzz.process.cdist`, ``score_cutoff``,
``uint8`` scores, all cores) and the addresses only for the pairs whose names pass. A block of
more than :data:`MAX_BLOCK` claims is not compared all against all: its claims are sorted by
name (words sorted), and each run of ``MAX_BLOCK // 2`` compared with itself and the next run
(a sorted neighbourhood); the same again sorted by address. A pair is then compared when it is
close in name order or in address order: only a pair whose name and address both differ in
their first letters is missed there. Memory stays at a few ``MAX_BLOCK**2`` bytes of scores at
a time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from rapidfuzz import fuzz, process
from rapidfuzz.utils import default_process
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from rahat.engine.claims.decide import CODES, ClaimDecisions
from rahat.engine.claims.lookup import fold_codes
from rahat.engine.claims.read import Claims

#: Least :func:`rapidfuzz.fuzz.ratio` (0-100) of two normalised names to link them (one wrong
#: letter in 11 scores 90.9; "ahmed ali" and "ahmad ali" 88.9 do not link on their own).
NAME_MIN_SCORE = 90
#: Least ratio of two normalised addresses, needed as well as the names' score.
ADDRESS_MIN_SCORE = 85
#: Most claims of one block compared all against all (larger ones: sorted neighbourhoods).
MAX_BLOCK = 2048
#: Rows of a block's matrix scored at a time, against the block's rows from theirs on (the
#: upper triangle, in strips).
ROWS = 128
#: Fewest scores (cells of a matrix, or pairs) computed on several threads.
THREADED_CELLS = 1 << 16
#: Blocks of at most this many claims have all their pairs listed and scored together.
SMALL_BLOCK = 32
#: Most pairs of small blocks listed at a time (whole blocks; about 40 MB of indices and texts).
PAIR_BATCH = 1 << 20
#: Decisions whose claims are grouped (claimants not in the registry).
UNREGISTERED: tuple[str, ...] = (
    "not_registered_in_footprint",
    "not_registered_outside_footprint",
    "not_registered",
)
#: How two claims were linked (bit flags of :attr:`DuplicateGroups.linked_by`).
LINK_PHONE, LINK_NAME_ADDRESS = 1, 2
#: Text of each :attr:`DuplicateGroups.linked_by` value.
LINK_TEXT: dict[int, str] = {1: "phone", 2: "name+address", 3: "phone;name+address"}


def normalise(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each text case-folded, split at anything not a letter or digit; as written and sorted.

    Each distinct text is processed once (:func:`rapidfuzz.utils.default_process`).

    Examples
    --------
    >>> written, words = normalise(np.array(["  Khan, Ahmed-ALI ", "", None], dtype=object))
    >>> written.tolist(), words.tolist()
    (['khan ahmed ali', '', ''], ['ahmed ali khan', '', ''])
    """
    codes, uniques = pd.factorize(np.asarray(values, dtype=object))
    split = [default_process(str(u)).split() for u in uniques]
    written = np.array([*(" ".join(w) for w in split), ""], dtype=object)
    words = np.array([*(" ".join(sorted(w)) for w in split), ""], dtype=object)
    return written[codes], words[codes]


def _threads(scores: int, workers: int) -> int:
    """``workers`` for at least :data:`THREADED_CELLS` scores, else one thread."""
    return workers if scores >= THREADED_CELLS else 1


@dataclass(frozen=True)
class _Field:
    """A text field in its two normalised forms (:func:`normalise`) and its least score."""

    written: np.ndarray
    words: np.ndarray
    least: int

    @classmethod
    def of(cls, values: np.ndarray, least: int) -> _Field:
        """The field of raw ``values`` (normalised here) and its least score."""
        return cls(*normalise(values), least=least)

    def matrix(self, rows: np.ndarray, cols: np.ndarray, workers: int) -> np.ndarray:
        """Score of each of ``rows`` against each of ``cols`` (0 below :attr:`least`).

        A matrix of fewer than :data:`THREADED_CELLS` cells is scored on one thread (faster
        than starting more: the strips of a block of 340 names took 0.8 ms on one thread,
        1.2 ms on two).
        """
        workers = _threads(len(rows) * len(cols), workers)
        written, words = (
            process.cdist(
                form[rows].tolist(),
                form[cols].tolist(),
                scorer=fuzz.ratio,
                score_cutoff=self.least,
                dtype=np.uint8,
                workers=workers,
            )
            for form in (self.written, self.words)
        )
        return np.maximum(written, words, out=written)

    def passes(self, a: np.ndarray, b: np.ndarray, workers: int) -> np.ndarray:
        """Whether each pair ``(a[k], b[k])`` scores at least :attr:`least`."""
        ok = np.zeros(len(a), dtype=bool)
        for form in (self.written, self.words):
            todo = np.flatnonzero(~ok)
            if len(todo) == 0:
                break
            scores = process.cpdist(
                form[a[todo]].tolist(),
                form[b[todo]].tolist(),
                scorer=fuzz.ratio,
                score_cutoff=self.least,
                dtype=np.uint8,
                workers=_threads(len(todo), workers),
            )
            ok[todo] = scores > 0
        return ok


def number_codes(texts: np.ndarray) -> np.ndarray:
    """A code per normalised text for the runs of digits in it (equal codes: same numbers).

    Examples
    --------
    >>> number_codes(np.array(["12 house", "12 house x", "13 house", "house"], dtype=object))
    array([0, 0, 1, 2])
    """
    codes, uniques = pd.factorize(np.asarray(texts, dtype=object))
    digits = pc.replace_substring_regex(
        pa.array(uniques, pa.string()), pattern=r"[^\p{Nd}]+", replacement=" "
    )
    keys = pc.utf8_trim_whitespace(digits).to_numpy(zero_copy_only=False)
    numbers, _ = pd.factorize(np.append(keys.astype(object), ""))
    return numbers[codes]


@dataclass(frozen=True)
class DuplicateGroups:
    """Probable same-household groups of a batch, one entry per claim, in file order.

    Attributes
    ----------
    group
        Group number per claim (1, 2, ... in the order of each group's first row), -1 where
        the claim is in no group.
    linked_by
        Per group (index ``group - 1``): :data:`LINK_PHONE` and/or :data:`LINK_NAME_ADDRESS`,
        the kinds of link that hold it together.
    """

    group: np.ndarray
    linked_by: np.ndarray

    @property
    def count(self) -> int:
        """Number of groups."""
        return len(self.linked_by)

    @property
    def grouped(self) -> int:
        """Number of claims in a group."""
        return int((self.group > 0).sum())

    def table(self, row: np.ndarray, tehsil: np.ndarray) -> pd.DataFrame:
        """The groups file (no name, address, CNIC or phone).

        Columns ``group``, ``tehsil`` (as the group's first claim states it), ``size``,
        ``rows`` (``;``-joined claim rows) and ``linked_by``.
        """
        member = np.flatnonzero(self.group > 0)
        member = member[np.argsort(self.group[member], kind="stable")]
        ids = self.group[member]
        first = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]]) if len(ids) else ids
        rows = pd.Series(row[member].astype(str)).groupby(ids).agg(";".join)
        return pd.DataFrame(
            {
                "group": np.arange(1, self.count + 1, dtype=np.int64),
                "tehsil": np.asarray(tehsil, dtype=object)[member[first]],
                "size": np.diff(np.r_[first, len(ids)]).astype(np.int64),
                "rows": rows.to_numpy(dtype=object),
                "linked_by": [LINK_TEXT[int(k)] for k in self.linked_by],
            }
        )

    def summary(self) -> dict[str, Any]:
        """Groups, claims in them, and groups by kind of link (for the report)."""
        kinds = np.bincount(self.linked_by, minlength=4)
        return {
            "groups": self.count,
            "claims": self.grouped,
            "linked_by": {text: int(kinds[k]) for k, text in LINK_TEXT.items()},
        }


def _phone_edges(block: np.ndarray, phone: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pairs of consecutive claims with the same block and non-zero phone (a chain per phone)."""
    keep = np.flatnonzero((phone != 0) & (block >= 0))
    order = keep[np.lexsort((phone[keep], block[keep]))]
    same = (block[order[1:]] == block[order[:-1]]) & (phone[order[1:]] == phone[order[:-1]])
    return order[:-1][same], order[1:][same]


def _nonzero_cells(scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row and column of the non-zero cells of a mostly-zero ``uint8`` matrix.

    Eight cells are tested at once (as one ``uint64``), then the few non-zero words opened.
    """
    flat = np.ascontiguousarray(scores).reshape(-1)
    padded = np.zeros(-(-len(flat) // 8) * 8, dtype=np.uint8)
    padded[: len(flat)] = flat
    words = np.flatnonzero(padded.view(np.uint64))
    cells = (words[:, None] * 8 + np.arange(8)).reshape(-1)
    cells = cells[padded[cells] != 0]
    return np.divmod(cells, scores.shape[1])


_Fields = tuple[_Field, _Field]  # name, address


def _passing(
    a: np.ndarray, b: np.ndarray, fields: tuple[_Field, ...], workers: int
) -> tuple[np.ndarray, np.ndarray]:
    """The pairs ``(a[k], b[k])`` that pass on every one of ``fields``."""
    for field in fields:
        ok = field.passes(a, b, workers)
        a, b = a[ok], b[ok]
    return a, b


def _matrix_pairs(
    rows: np.ndarray, cols: np.ndarray, fields: _Fields, workers: int
) -> tuple[np.ndarray, np.ndarray]:
    """Pairs ``(rows[i], cols[j])``, ``i < j``, whose names and addresses both score enough.

    ``cols`` starts with ``rows`` (the same claims, or a run and the one after it); the names
    are compared all against all, the addresses of the passing pairs only.
    """
    i, j = _nonzero_cells(fields[0].matrix(rows, cols, workers))
    keep = j > i  # each pair once, never a claim with itself
    return _passing(rows[i[keep]], cols[j[keep]], fields[1:], workers)


def _small_block_pairs(
    members: np.ndarray, starts: np.ndarray, fields: _Fields, workers: int
) -> tuple[np.ndarray, np.ndarray]:
    """Every pair within each small block (``members[starts[k]:starts[k + 1]]``), scored at once."""
    size = np.diff(starts)
    position = np.arange(len(members))
    after = np.repeat(starts[1:], size) - position - 1  # later members of the same block
    first = np.repeat(position, after)
    offset = np.arange(len(first)) - np.repeat(np.cumsum(after) - after, after)
    return _passing(members[first], members[first + 1 + offset], fields, workers)


def _block_pairs(
    members: np.ndarray, fields: _Fields, workers: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Name-and-address pairs within one large block (see the module).

    All against all up to :data:`MAX_BLOCK` claims, sorted neighbourhoods beyond.
    """
    if len(members) <= MAX_BLOCK:  # each run of rows against itself and the rows after it
        return [
            _matrix_pairs(members[start : start + ROWS], members[start:], fields, workers)
            for start in range(0, len(members), ROWS)
        ]
    half = MAX_BLOCK // 2
    found = []
    for field in fields:
        order = members[np.argsort(field.words[members], kind="stable")]
        for start in range(0, len(order), half):
            window = order[start : start + 2 * half]
            found.append(_matrix_pairs(order[start : start + half], window, fields, workers))
    return found


def _text_pairs(
    block: np.ndarray, name: np.ndarray, address: np.ndarray, workers: int
) -> tuple[np.ndarray, np.ndarray]:
    """Pairs linked by name and address: same block and address numbers, scores enough."""
    fields = (_Field.of(name, NAME_MIN_SCORE), _Field.of(address, ADDRESS_MIN_SCORE))
    words = fields[1].words
    usable = np.flatnonzero((block >= 0) & (fields[0].words != "") & (words != ""))
    # the numbers in the order written: "House 3, Street 12" is not "House 12, Street 3"
    key = block[usable] * (len(block) + 1) + number_codes(fields[1].written[usable])
    order = np.argsort(key, kind="stable")
    usable, key = usable[order], key[order]
    starts = np.r_[np.flatnonzero(np.r_[True, key[1:] != key[:-1]]), len(key)]
    size = np.diff(starts)
    small = np.flatnonzero((size > 1) & (size <= SMALL_BLOCK))
    found = [(np.zeros(0, np.int64), np.zeros(0, np.int64))]
    batch = np.cumsum(size[small] * (size[small] - 1) // 2) // PAIR_BATCH  # bounded memory
    for part in np.split(small, np.flatnonzero(np.diff(batch)) + 1) if len(small) else []:
        members = np.concatenate([usable[starts[k] : starts[k + 1]] for k in part])
        found.append(_small_block_pairs(members, np.r_[0, np.cumsum(size[part])], fields, workers))
    for k in np.flatnonzero(size > SMALL_BLOCK):
        found.extend(_block_pairs(usable[starts[k] : starts[k + 1]], fields, workers))
    return np.concatenate([f[0] for f in found]), np.concatenate([f[1] for f in found])


def link_groups(
    block: np.ndarray,
    phone: np.ndarray,
    name: np.ndarray,
    address: np.ndarray,
    *,
    workers: int = -1,
) -> DuplicateGroups:
    """Group records linked by phone or by name and address within the same block.

    Parameters
    ----------
    block
        Block code per record (the stated tehsil), -1: never grouped.
    phone
        Phone token per record, 0 where none (or not to be used).
    name, address
        Texts per record (``""`` where none); normalised here (:func:`normalise`).
    workers
        Threads for :mod:`rapidfuzz.process` (-1: all cores).

    Returns
    -------
    DuplicateGroups
        Per record its group (-1 when alone), and per group the kinds of link.
    """
    n = len(block)
    part = np.flatnonzero(np.asarray(block) >= 0)  # the records that may be grouped
    block = np.asarray(block, dtype=np.int64)[part]
    by_phone = _phone_edges(block, np.asarray(phone, dtype=np.int64)[part])
    name, address = (np.asarray(t, dtype=object)[part] for t in (name, address))
    by_text = _text_pairs(block, name, address, workers)
    a, b = part[np.r_[by_phone[0], by_text[0]]], part[np.r_[by_phone[1], by_text[1]]]
    kind = np.repeat([LINK_PHONE, LINK_NAME_ADDRESS], [len(by_phone[0]), len(by_text[0])])
    graph = coo_matrix((np.ones(len(a), dtype=np.int32), (a, b)), shape=(n, n)).tocsr()
    _, label = connected_components(graph, directed=False)
    grouped = np.bincount(label, minlength=n)[label] > 1
    # groups numbered 1, 2, ... in the order of their first row
    labels, first_row = np.unique(label[grouped], return_index=True)
    number = np.full(n, -1, dtype=np.int64)
    number[labels[np.argsort(first_row, kind="stable")]] = np.arange(1, len(labels) + 1)
    group = np.where(grouped, number[label], -1)
    linked = np.zeros(len(labels) + 1, dtype=np.int64)
    np.bitwise_or.at(linked, group[a], kind.astype(np.int64))
    return DuplicateGroups(group=group, linked_by=linked[1:])


def group_unregistered(
    claims: Claims, decided: ClaimDecisions, *, workers: int = -1
) -> DuplicateGroups:
    """Group the batch's claimants not in the registry into probable households.

    Parameters
    ----------
    claims, decided
        The batch and its decisions (:func:`rahat.engine.claims.decide.decide_claims`).
    workers
        Threads for the string comparisons (-1: all cores).

    Returns
    -------
    DuplicateGroups
        One group number per claim of the batch (-1 for a claim in no group).
    """
    wanted = np.isin(decided.decision, [CODES.index(c) for c in UNREGISTERED])
    codes, folded = fold_codes(claims.stated_tehsil)  # folded[-1] == "": none stated
    unit, _ = pd.factorize(folded)  # "PKT01" and "pkt01": one block
    unit[folded == ""] = -1
    block = np.where(wanted, unit[codes], -1)
    phone = np.where(decided.velocity, 0, claims.phone_token)
    return link_groups(block, phone, claims.name, claims.address, workers=workers)
