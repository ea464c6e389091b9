"""Hazard classes: defaults from classes.yaml, dtype-aware thresholds, overrides."""

from __future__ import annotations

import numpy as np
import pytest

from rahat.geo.errors import ScenarioError
from rahat.geo.hazards import Classification, HazardKind, default_classes, load_classes


def test_every_kind_has_default_classes():
    classes = load_classes()
    assert set(classes) == set(HazardKind)
    depth = classes[HazardKind.FLOOD_DEPTH]
    assert depth.labels == ("dry", "low", "medium", "high")
    assert depth.thresholds == (0.1, 0.5, 1.5) and depth.units == "m"


def test_flood_depth_boundaries_in_float32():
    depth = default_classes("flood_depth")
    values = np.array([0.0, 0.0999, 0.1, 0.3, 0.5, 1.4999, 1.5, 7.0, np.nan], dtype=np.float32)
    assert depth.classify(values).tolist() == [0, 0, 1, 1, 2, 2, 3, 3, -1]
    assert depth.classify(values).dtype == np.int8
    # threshold cast to the values' dtype: float32(0.3) is "at least 0.3"
    at = Classification(HazardKind.FLOOD_DEPTH, ("dry", "wet"), (0.3,))
    assert at.classify(np.array([0.3], dtype=np.float32)).tolist() == [1]
    assert at.classify(np.array([0.3], dtype=np.float64)).tolist() == [1]
    assert at.classify(np.array([np.nextafter(np.float32(0.3), 0)], np.float32)).tolist() == [0]


def test_integer_mmi_and_descending_spi():
    mmi = default_classes(HazardKind.EARTHQUAKE_MMI)
    ints = np.arange(1, 11, dtype=np.uint8)
    assert mmi.classify(ints).tolist() == [0, 0, 0, 1, 2, 3, 4, 5, 6, 7]
    assert mmi.classify(ints.astype(np.float32) + 0.4).tolist() == [0, 0, 0, 1, 2, 3, 4, 5, 6, 7]
    spi = default_classes("drought_spi")
    values = np.array([0.5, -0.99, -1.0, -1.6, -2.0, -3.0])
    assert spi.classify(values).tolist() == [0, 0, 1, 2, 3, 3]
    generic = default_classes("generic")
    assert generic.classify(np.array([0, 1, 5], dtype=np.int16)).tolist() == [0, 1, 1]
    assert generic.classify(np.array([0.0, 1e-6])).tolist() == [0, 1]


def test_overrides_and_bad_overrides():
    classes = load_classes({"flood_depth": {"thresholds": [0.2, 1.0, 2.0]}})
    assert classes[HazardKind.FLOOD_DEPTH].thresholds == (0.2, 1.0, 2.0)
    assert classes[HazardKind.FLOOD_DEPTH].labels == ("dry", "low", "medium", "high")
    with pytest.raises(ScenarioError, match="strictly increasing"):
        load_classes({"flood_depth": {"thresholds": [1.0, 0.5, 2.0]}})
    with pytest.raises(ScenarioError, match="3 thresholds"):
        load_classes({"flood_depth": {"thresholds": [0.5]}})
    with pytest.raises(ScenarioError, match="unknown keys"):
        load_classes({"flood_depth": {"tresholds": [0.5]}})
    with pytest.raises(Exception, match="unknown hazard kind"):
        load_classes({"tsunami": {"thresholds": [0.5]}})
