"""CAP alerts as a trigger source: the highest severity class in force over each area per day.

Placeholder until the CAP reader lands: :func:`read_alert_series` refuses with a clear message.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rahat.engine.triggers.series import Series
from rahat.geo.errors import TriggerError


def read_alert_series(
    path: Path, areas: Sequence[str], geometries: Sequence[Any], as_of: np.datetime64
) -> Series:
    """Refuse: CAP sources are not read yet."""
    raise TriggerError("CAP alert sources are not supported yet", source=path)
