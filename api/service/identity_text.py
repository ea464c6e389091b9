"""Keep CNICs and phone numbers out of what the service stores, echoes and audits.

Two helpers: :func:`mask_path` hides a URL path segment that looks like a CNIC or a phone
number (the problem document's ``instance``, the audit log's ``path``, server logs), and
:func:`scrub_numbers` removes CNICs and Pakistani phone numbers from free text (grievance
notes) before it is stored. Ids Rahat issues (:func:`rahat.api.service.models.new_id`: 32
hexadecimal digits) hold a letter but about once in a million; one without is kept all the same.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

from rahat.geo.registry.identity import normalise_cnic, normalise_phone

#: What a path segment that looks like a number becomes.
NUMBER_SEGMENT = "{number}"
#: What a CNIC or phone number in free text becomes.
NUMBER_REMOVED = "[number removed]"
#: Digits a path segment needs to be taken for a CNIC or phone number.
MIN_SEGMENT_DIGITS = 10
#: Length of the ids Rahat issues (a UUID's hexadecimal digits).
ID_LENGTH = 32

_SEGMENT = re.compile(r"[\d+\- ]+")
#: A run of digit groups joined by separators a CNIC or phone number is written with.
_RUN = re.compile(r"\+?\d+(?:[ \t\-().]{1,3}\+?\d+)*")
_GROUP = re.compile(r"\+?\d+")
#: Fewest and most digits of a CNIC or Pakistani phone number (``3001234567`` to
#: ``00923001234567``, 13 for a CNIC): longer spans are not tried.
_MIN_DIGITS, _MAX_DIGITS = 9, 14


def looks_like_number(segment: str) -> bool:
    """Whether a path segment is made only of digits, ``+``, ``-`` and spaces, with 10+ digits.

    The segment is read percent-decoded (``%20`` is a space). 32 digits alone are an id
    Rahat issued (:data:`ID_LENGTH` hexadecimal digits, none a letter), not a number.
    """
    text = unquote(segment)
    if len(text) == ID_LENGTH and text.isdigit():
        return False
    return bool(_SEGMENT.fullmatch(text)) and sum(c.isdigit() for c in text) >= MIN_SEGMENT_DIGITS


def mask_path(path: str) -> str:
    """``path`` with each segment that looks like a CNIC or phone number as ``{number}``."""
    return "/".join(NUMBER_SEGMENT if looks_like_number(s) else s for s in path.split("/"))


def _is_number(text: str) -> bool:
    """Whether ``text`` normalises as a CNIC or a Pakistani phone number."""
    if sum(c.isdigit() for c in text) < _MIN_DIGITS:
        return False
    return normalise_cnic(text) is not None or normalise_phone(text) is not None


def _scrub_run(run: str) -> str:
    """``run`` (digit groups and separators) with each CNIC or phone in it removed.

    The longest span of whole groups that is a number is removed first, from the left, so
    that a CNIC and a phone written one after the other are both found.
    """
    groups = list(_GROUP.finditer(run))
    digits = [sum(c.isdigit() for c in g.group(0)) for g in groups]
    out, kept_from, i = [], 0, 0
    while i < len(groups):
        last, total = i, digits[i]
        while last + 1 < len(groups) and total + digits[last + 1] <= _MAX_DIGITS:
            last, total = last + 1, total + digits[last + 1]
        for j in range(last, i - 1, -1):
            start, end = groups[i].start(), groups[j].end()
            if _is_number(run[start:end]):
                out += [run[kept_from:start], NUMBER_REMOVED]
                kept_from, i = end, j + 1
                break
        else:
            i += 1
    return "".join([*out, run[kept_from:]])


def scrub_numbers(text: str | None) -> str | None:
    """``text`` with every CNIC and Pakistani phone number replaced by ``[number removed]``.

    Candidates are runs of digits joined by spaces, dashes, dots or brackets; a span of a run
    is removed when :func:`~rahat.geo.registry.identity.normalise_cnic` or
    :func:`~rahat.geo.registry.identity.normalise_phone` reads it. ``None`` stays ``None``.
    """
    if text is None:
        return None
    return _RUN.sub(lambda m: _scrub_run(m.group(0)), text)


def identity_secret(purpose: str) -> bytes:
    """The deployment's identity secret, or a 503 saying ``purpose`` cannot be served.

    The one place the API reads it (:func:`rahat.geo.registry.identity.secret_from_env`); the
    message names the variable, never a value.
    """
    from rahat.geo.errors import InputError, UnavailableError
    from rahat.geo.registry.identity import SECRET_ENV, secret_from_env

    try:
        return secret_from_env()
    except InputError:
        raise UnavailableError(
            f"{purpose}: this deployment has no usable identity secret ({SECRET_ENV} is unset "
            "or invalid); ask the operators to set it."
        ) from None
