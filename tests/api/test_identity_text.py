"""CNICs and phone numbers kept out of paths and notes (:mod:`rahat.api.service.identity_text`)."""

from __future__ import annotations

import pytest

from rahat.api.service.identity_text import mask_path, scrub_numbers
from rahat.api.service.models import new_id

R = "[number removed]"


@pytest.mark.parametrize(
    ("path", "masked"),
    [
        ("/grievances/4130612345671", "/grievances/{number}"),
        ("/grievances/41306-1234567-1", "/grievances/{number}"),
        ("/grievances/41306 1234567 1", "/grievances/{number}"),
        ("/grievances/41306%201234567%201", "/grievances/{number}"),
        ("/grievances/+923001234567", "/grievances/{number}"),
        ("/grievances/0300-1234567/history", "/grievances/{number}/history"),
        ("/grievances/3001234567", "/grievances/{number}"),  # 10 digits
        ("/grievances/300123456", "/grievances/300123456"),  # 9 digits
        ("/grievances/4130612345671x", "/grievances/4130612345671x"),
        ("/runs/0a1b2c3d4e5f60718293a4b5c6d7e8f9", "/runs/0a1b2c3d4e5f60718293a4b5c6d7e8f9"),
        ("/runs/" + "1" * 32, "/runs/" + "1" * 32),  # an id Rahat issued, without a letter
        ("/", "/"),
    ],
)
def test_a_segment_that_looks_like_a_number_is_masked(path: str, masked: str) -> None:
    assert mask_path(path) == masked


def test_ids_rahat_issues_are_never_masked() -> None:
    for _ in range(1000):
        ticket = new_id()
        assert mask_path(f"/grievances/{ticket}") == f"/grievances/{ticket}"


@pytest.mark.parametrize(
    ("text", "scrubbed"),
    [
        ("CNIC 41306-1234567-1.", f"CNIC {R}."),
        ("cnic4130612345671x", f"cnic{R}x"),
        ("41306 1234567 1", R),
        ("call 0300-1234567 or +92 321 7654321", f"call {R} or {R}"),
        ("0092-333-7654321, 923001234567, 3001234567", f"{R}, {R}, {R}"),
        ("(0300) 1234567", f"({R}"),
        ("41306-1234567-1 03001234567", f"{R} {R}"),  # two numbers in one run
        ("call 0300 1234567 5 times", f"call {R} 5 times"),  # a shorter span is the number
        ("paid 30,000 on 2026-12-02, ref 12345, rank 7", None),
        ("1111111111111 and 0000000000000", None),  # placeholders, no CNIC
        ("ticket 0a1b2c3d4e5f", None),
        ("", None),
    ],
)
def test_cnics_and_phones_in_notes_are_removed(text: str, scrubbed: str | None) -> None:
    assert scrub_numbers(text) == (text if scrubbed is None else scrubbed)


def test_no_note_stays_none() -> None:
    assert scrub_numbers(None) is None
