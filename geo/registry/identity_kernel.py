"""Kernels of the identity tokens: HMAC-SHA-256 and the normalising of CNICs and phones.

A token is the first 64 bits of HMAC-SHA-256 (RFC 2104, FIPS 180-4) of a short normalised
text. Every text Rahat tokenises (13 CNIC digits, a 13-character E.164 mobile number) fits one
SHA-256 block with its padding, so an HMAC is two block compressions once the key's inner and
outer states are known (:func:`keyed_states`, computed once per secret). The kernels run over
Arrow-style string buffers (one byte array and the offsets of each value), normalise each value
and hash it in the same pass, in parallel, with no Python object per value.

They read ASCII only. A value with a byte of 128 or more (Unicode spaces or digits, which the
Python rules of :mod:`rahat.geo.registry.identity` read their own way) is marked
:data:`FALLBACK` and left to those rules, as is a phone number that is not a mobile number in
one of its usual forms (the ``phonenumbers`` library decides). The tests check every kernel
against :mod:`hmac` and the Python rules with zero tolerance, and run them without numba too.

Measured on this machine (2 cores; ``rahat bench claims``): one HMAC about 0.5 µs per core.
"""

from __future__ import annotations

import re

import numpy as np

from rahat.geo.jit import kernel, parallel_kernel, prange

#: Status of a value: not a valid number.
INVALID = 0
#: Status of a value: valid, token computed.
VALID = 1
#: Status of a value: left to the Python rules (non-ASCII text, or a phone that is not a mobile).
FALLBACK = 2

#: Longest message one padded SHA-256 block holds.
MAX_ONE_BLOCK = 55

#: Digits of a CNIC.
CNIC_LENGTH = 13

#: SHA-256 round constants (FIPS 180-4, 4.2.2).
ROUND_CONSTANTS = np.array(
    [
        0x428A2F98, 0x71374491, 0xB5C0FBCF, 0xE9B5DBA5, 0x3956C25B, 0x59F111F1, 0x923F82A4,
        0xAB1C5ED5, 0xD807AA98, 0x12835B01, 0x243185BE, 0x550C7DC3, 0x72BE5D74, 0x80DEB1FE,
        0x9BDC06A7, 0xC19BF174, 0xE49B69C1, 0xEFBE4786, 0x0FC19DC6, 0x240CA1CC, 0x2DE92C6F,
        0x4A7484AA, 0x5CB0A9DC, 0x76F988DA, 0x983E5152, 0xA831C66D, 0xB00327C8, 0xBF597FC7,
        0xC6E00BF3, 0xD5A79147, 0x06CA6351, 0x14292967, 0x27B70A85, 0x2E1B2138, 0x4D2C6DFC,
        0x53380D13, 0x650A7354, 0x766A0ABB, 0x81C2C92E, 0x92722C85, 0xA2BFE8A1, 0xA81A664B,
        0xC24B8B70, 0xC76C51A3, 0xD192E819, 0xD6990624, 0xF40E3585, 0x106AA070, 0x19A4C116,
        0x1E376C08, 0x2748774C, 0x34B0BCB5, 0x391C0CB3, 0x4ED8AA4A, 0x5B9CCA4F, 0x682E6FF3,
        0x748F82EE, 0x78A5636F, 0x84C87814, 0x8CC70208, 0x90BEFFFA, 0xA4506CEB, 0xBEF9A3F7,
        0xC67178F2,
    ],
    dtype=np.uint32,
)  # fmt: skip

#: SHA-256 initial hash value (FIPS 180-4, 5.3.3).
INITIAL_STATE = np.array(
    [0x6A09E667, 0xBB67AE85, 0x3C6EF372, 0xA54FF53A, 0x510E527F, 0x9B05688C, 0x1F83D9AB,
     0x5BE0CD19],
    dtype=np.uint32,
)  # fmt: skip


def _byte_table(pattern: str) -> np.ndarray:
    """Which ASCII bytes the one-character regex ``pattern`` matches (as the Python rules do)."""
    return np.array([re.fullmatch(pattern, chr(b)) is not None for b in range(128)], dtype=bool)


#: ASCII bytes a CNIC may be written with between its digits (the Python rule's ``[\s\-]``).
CNIC_SEPARATORS = _byte_table(r"[\s\-]")
#: ASCII bytes dropped from a phone number (the Python rule's ``[\s\-().]``).
PHONE_SEPARATORS = _byte_table(r"[\s\-().]")


@kernel
def _rotr(x: np.uint32, n: int) -> np.uint32:
    """``x`` rotated right by ``n`` bits (compiled to one rotate instruction)."""
    return np.uint32((x >> np.uint32(n)) | (x << np.uint32(32 - n)))


@kernel
def _compress(state: np.ndarray, w: np.ndarray) -> None:
    """One SHA-256 block compression into ``state`` (8 words), ``w[:16]`` the block's words.

    Words are uint32, every sum wrapped by ``np.uint32`` (numba widens sums of narrow
    integers); ``w`` (64 words) is the message schedule, filled here.
    """
    for t in range(16, 64):
        x, y = w[t - 15], w[t - 2]
        s0 = _rotr(x, 7) ^ _rotr(x, 18) ^ (x >> np.uint32(3))
        s1 = _rotr(y, 17) ^ _rotr(y, 19) ^ (y >> np.uint32(10))
        w[t] = np.uint32(w[t - 16] + s0 + w[t - 7] + s1)
    a, b, c, d = state[0], state[1], state[2], state[3]
    e, f, g, h = state[4], state[5], state[6], state[7]
    for t in range(64):
        big1 = _rotr(e, 6) ^ _rotr(e, 11) ^ _rotr(e, 25)
        choose = (e & f) ^ (~e & g)
        t1 = np.uint32(h + big1 + choose + ROUND_CONSTANTS[t] + w[t])
        big0 = _rotr(a, 2) ^ _rotr(a, 13) ^ _rotr(a, 22)
        majority = (a & b) ^ (a & c) ^ (b & c)
        t2 = np.uint32(big0 + majority)
        h, g, f, e = g, f, e, np.uint32(d + t1)
        d, c, b, a = c, b, a, np.uint32(t1 + t2)
    state[0] += a
    state[1] += b
    state[2] += c
    state[3] += d
    state[4] += e
    state[5] += f
    state[6] += g
    state[7] += h


@kernel
def _hmac64(
    message: np.ndarray,
    length: int,
    inner: np.ndarray,
    outer: np.ndarray,
    w: np.ndarray,
    state: np.ndarray,
) -> np.uint64:
    """First 64 bits of HMAC-SHA-256 of ``message[:length]`` (at most 55 bytes).

    ``inner`` and ``outer`` are the SHA-256 states after the key's inner and outer blocks;
    ``w`` (64 words) and ``state`` (8 words) are uint32 scratch space, reused across calls.
    """
    w[:16] = 0
    for i in range(length):
        w[i >> 2] |= np.uint32(message[i]) << np.uint32(24 - 8 * (i & 3))
    w[length >> 2] |= np.uint32(0x80) << np.uint32(24 - 8 * (length & 3))
    w[15] = np.uint32((64 + length) * 8)
    state[:] = inner
    _compress(state, w)
    for i in range(8):
        w[i] = state[i]
    w[8] = np.uint32(0x80000000)
    for i in range(9, 15):
        w[i] = np.uint32(0)
    w[15] = np.uint32((64 + 32) * 8)
    state[:] = outer
    _compress(state, w)
    return (np.uint64(state[0]) << np.uint64(32)) | np.uint64(state[1])


def keyed_states(key: bytes) -> tuple[np.ndarray, np.ndarray]:
    """SHA-256 states after the HMAC inner and outer key blocks (RFC 2104), as uint32 words."""
    import hashlib

    block = 64
    if len(key) > block:
        key = hashlib.sha256(key).digest()
    key = key.ljust(block, b"\0")
    states = []
    for pad in (0x36, 0x5C):
        padded = np.frombuffer(bytes(b ^ pad for b in key), dtype=">u4").astype(np.uint32)
        w = np.zeros(64, dtype=np.uint32)
        w[:16] = padded
        state = INITIAL_STATE.copy()
        with np.errstate(over="ignore"):
            _compress(state, w)
        states.append(state)
    return states[0], states[1]


#: Values one thread takes at a time (its scratch space is allocated once per block).
BLOCK = 4096


@parallel_kernel
def hmac_kernel(
    data: np.ndarray,
    offsets: np.ndarray,
    inner: np.ndarray,
    outer: np.ndarray,
    out: np.ndarray,
) -> None:
    """Token (first 64 bits of the HMAC, as uint64) of each value ``data[offsets[i]:offsets[i+1]]``.

    Every value must be at most :data:`MAX_ONE_BLOCK` bytes.
    """
    n = len(offsets) - 1
    for block in prange((n + BLOCK - 1) // BLOCK):
        w = np.empty(64, dtype=np.uint32)
        state = np.empty(8, dtype=np.uint32)
        for i in range(block * BLOCK, min(n, (block + 1) * BLOCK)):
            start = offsets[i]
            out[i] = _hmac64(data[start:], offsets[i + 1] - start, inner, outer, w, state)


@kernel
def _cnic_digits(
    data: np.ndarray, start: int, end: int, separators: np.ndarray, digits: np.ndarray
) -> int:
    """Status of one CNIC text; its 13 digits into ``digits`` when :data:`VALID`.

    Valid when, without the ``separators`` bytes, it is 13 ASCII digits not all the same;
    :data:`FALLBACK` when it holds a non-ASCII byte.
    """
    count = 0
    for j in range(start, end):
        byte = data[j]
        if byte >= 128:
            return FALLBACK
        if separators[byte]:
            continue
        if byte < 48 or byte > 57 or count >= CNIC_LENGTH:
            count = CNIC_LENGTH + 1  # invalid, unless a non-ASCII byte follows
            continue
        digits[count] = byte
        count += 1
    if count != CNIC_LENGTH:
        return INVALID
    for k in range(1, CNIC_LENGTH):
        if digits[k] != digits[0]:
            return VALID
    return INVALID  # one digit repeated: a placeholder


@parallel_kernel
def cnic_kernel(
    data: np.ndarray,
    offsets: np.ndarray,
    present: np.ndarray,
    separators: np.ndarray,
    inner: np.ndarray,
    outer: np.ndarray,
    out: np.ndarray,
    status: np.ndarray,
) -> None:
    """Normalise each CNIC text (:func:`_cnic_digits`); write its token and status."""
    n = len(offsets) - 1
    for block in prange((n + BLOCK - 1) // BLOCK):
        w = np.empty(64, dtype=np.uint32)
        state = np.empty(8, dtype=np.uint32)
        digits = np.empty(CNIC_LENGTH, dtype=np.uint8)
        for i in range(block * BLOCK, min(n, (block + 1) * BLOCK)):
            out[i] = 0
            status[i] = INVALID
            if present[i]:
                status[i] = _cnic_digits(data, offsets[i], offsets[i + 1], separators, digits)
                if status[i] == VALID:
                    out[i] = _hmac64(digits, CNIC_LENGTH, inner, outer, w, state)


@kernel
def _mobile_number(
    data: np.ndarray,
    start: int,
    end: int,
    separators: np.ndarray,
    prefix_valid: np.ndarray,
    message: np.ndarray,
    lead: np.ndarray,
) -> int:
    """Status of one phone text read as a mobile number; ``+923XXXXXXXXX`` into ``message``.

    Without the ``separators`` bytes, a value of the form ``(+92|0092|92|0)3XXXXXXXXX`` is a
    mobile number, valid when ``prefix_valid[XX]`` (its ``3XX`` prefix); any other non-empty
    value is :data:`FALLBACK` (the ``phonenumbers`` library decides), as is one with a
    non-ASCII byte. The prefix follows from the length: 13 ``+92``, 14 ``0092``, 12 ``92``,
    11 ``0``. ``lead`` (4 bytes) is scratch space for the first characters.
    """
    if end == start:
        return INVALID
    compact = message[3:]  # the national number lands where the message needs it
    count = 0
    for j in range(start, end):
        byte = data[j]
        if byte >= 128:
            return FALLBACK
        if separators[byte]:
            continue
        if count == 14:
            return FALLBACK  # too long for a mobile number: the library decides
        if count < 4:
            lead[count] = byte
        count += 1
    if count < 11:
        return FALLBACK
    rest = count - 10
    if rest == 3:
        matched = lead[0] == 43 and lead[1] == 57 and lead[2] == 50  # +92
    elif rest == 4:
        matched = lead[0] == 48 and lead[1] == 48 and lead[2] == 57 and lead[3] == 50  # 0092
    elif rest == 2:
        matched = lead[0] == 57 and lead[1] == 50  # 92
    else:
        matched = lead[0] == 48  # 0
    if not matched:
        return FALLBACK
    seen = 0
    for j in range(start, end):
        byte = data[j]
        if separators[byte]:
            continue
        if seen >= rest:
            if byte < 48 or byte > 57:
                return FALLBACK
            compact[seen - rest] = byte
        seen += 1
    if compact[0] != 51:  # the national number starts with 3
        return FALLBACK
    if not prefix_valid[(compact[1] - 48) * 10 + (compact[2] - 48)]:
        return INVALID
    message[0], message[1], message[2] = 43, 57, 50  # +92
    return VALID


@parallel_kernel
def mobile_kernel(
    data: np.ndarray,
    offsets: np.ndarray,
    present: np.ndarray,
    separators: np.ndarray,
    prefix_valid: np.ndarray,
    inner: np.ndarray,
    outer: np.ndarray,
    out: np.ndarray,
    status: np.ndarray,
) -> None:
    """Normalise each phone text as a mobile (:func:`_mobile_number`); write token and status."""
    n = len(offsets) - 1
    for block in prange((n + BLOCK - 1) // BLOCK):
        w = np.empty(64, dtype=np.uint32)
        state = np.empty(8, dtype=np.uint32)
        message = np.empty(13, dtype=np.uint8)
        lead = np.empty(4, dtype=np.uint8)
        for i in range(block * BLOCK, min(n, (block + 1) * BLOCK)):
            out[i] = 0
            status[i] = INVALID
            if present[i]:
                status[i] = _mobile_number(
                    data, offsets[i], offsets[i + 1], separators, prefix_valid, message, lead
                )
                if status[i] == VALID:
                    out[i] = _hmac64(message, 13, inner, outer, w, state)
