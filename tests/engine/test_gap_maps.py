"""``gap_map.png``: the unregistered poor and the stale records, district by district."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from rahat.engine.gap.maps import gap_map
from rahat.geo.denominators import district_households


def _districts(stale_share: float) -> pd.DataFrame:
    census = district_households()
    registered = np.full(len(census), 1_000.0)
    return pd.DataFrame(
        {
            "key": (census["province"] + "|" + census["district"]).to_numpy(),
            "unregistered_b40_est": np.linspace(0, 500, len(census)),
            "registered": registered,
            "stale_records": np.linspace(0, stale_share, len(census)) * registered,
        }
    )


def _halves(path: Path) -> tuple[np.ndarray, np.ndarray]:
    pixels = np.asarray(Image.open(path).convert("RGB"), dtype=np.int16)
    height = pixels.shape[0]
    pixels = pixels[height // 6 : height * 9 // 10]  # the maps, not their titles
    middle = pixels.shape[1] // 2
    return pixels[:, :middle], pixels[:, middle:]


def test_the_right_panel_shades_the_stale_share_and_the_left_the_estimates(tmp_path) -> None:
    none, half = tmp_path / "none.png", tmp_path / "half.png"
    gap_map(_districts(0.0), none)
    gap_map(_districts(0.5), half)
    left_none, right_none = _halves(none)
    left_half, right_half = _halves(half)
    # the estimates are the same, so the left maps are too; the stale maps are not
    assert np.abs(left_none - left_half).sum() == 0
    assert np.abs(right_none - right_half).sum() > 0
    # with no stale record every district is the palest shade; with some, darker ones appear
    assert right_half.sum() < right_none.sum()
