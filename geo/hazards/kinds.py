"""The kinds of hazard Rahat understands, their default units and how to guess them."""

from __future__ import annotations

import re
from enum import StrEnum


class HazardKind(StrEnum):
    """What a hazard layer measures; each kind has default units and classes."""

    FLOOD_DEPTH = "flood_depth"
    FLOOD_EXTENT = "flood_extent"
    FLOOD_DURATION = "flood_duration"
    EARTHQUAKE_MMI = "earthquake_mmi"
    EARTHQUAKE_PGA = "earthquake_pga"
    DROUGHT_SPI = "drought_spi"
    WIND_SPEED = "wind_speed"
    GENERIC = "generic"

    @property
    def default_units(self) -> str:
        """Units a layer of this kind is expected in."""
        return _UNITS[self]


_UNITS: dict[HazardKind, str] = {
    HazardKind.FLOOD_DEPTH: "m",
    HazardKind.FLOOD_EXTENT: "1",
    HazardKind.FLOOD_DURATION: "days",
    HazardKind.EARTHQUAKE_MMI: "MMI",
    HazardKind.EARTHQUAKE_PGA: "g",
    HazardKind.DROUGHT_SPI: "1",
    HazardKind.WIND_SPEED: "m/s",
    HazardKind.GENERIC: "1",
}

# Ordered: the first pattern that matches a name wins ("flood_depth" before "flood").
_PATTERNS: tuple[tuple[str, HazardKind], ...] = (
    (r"depth|inundation_depth|water_?level", HazardKind.FLOOD_DEPTH),
    (r"duration", HazardKind.FLOOD_DURATION),
    (r"mmi|intensity_?mmi|macroseismic", HazardKind.EARTHQUAKE_MMI),
    (r"pga|peak_?ground_?acc", HazardKind.EARTHQUAKE_PGA),
    (r"spi|drought", HazardKind.DROUGHT_SPI),
    (r"wind", HazardKind.WIND_SPEED),
    (r"extent|inundat|flood_?mask|flooded", HazardKind.FLOOD_EXTENT),
)


def parse_kind(value: HazardKind | str | None) -> HazardKind | None:
    """Return ``value`` as a :class:`HazardKind` (``None`` stays ``None``).

    Raises
    ------
    rahat.geo.errors.SchemaError
        If ``value`` names no known kind.
    """
    if value is None or isinstance(value, HazardKind):
        return value
    try:
        return HazardKind(str(value).strip().lower())
    except ValueError:
        from rahat.geo.errors import SchemaError

        known = ", ".join(k.value for k in HazardKind)
        raise SchemaError(f"unknown hazard kind {value!r}; use one of: {known}") from None


def guess_kind(*names: str | None) -> HazardKind | None:
    """Guess the kind from names and metadata (variable name, units, file name), or ``None``.

    Parameters
    ----------
    *names
        Candidate strings, most specific first; ``None`` entries are skipped.
    """
    for name in names:
        if not name:
            continue
        text = str(name).lower()
        for pattern, kind in _PATTERNS:
            if re.search(pattern, text):
                return kind
    return None
