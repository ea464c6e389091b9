"""One rule decides whether a dtype can hold a no-data value: grids and sampling kernels agree."""

from __future__ import annotations

import math

import numpy as np
import pytest
from affine import Affine

from rahat.engine.kernels.raster import sample_nearest
from rahat.geo.hazards.grid import ArrayRasterGrid, nodata_in_dtype

CASES = [
    (np.int16, -9999, -9999),
    (np.int16, 70000, None),  # out of range: no cell can hold it
    (np.uint8, -1, None),
    (np.uint8, 255.0, 255),
    (np.int32, 2.5, None),  # fractional
    (np.int32, math.inf, None),
    (np.int32, None, None),
    (np.float32, -3.4e38, np.float32(-3.4e38)),  # cast to the band type, as GDAL does
    (np.float32, math.nan, None),
]


@pytest.mark.parametrize(("dtype", "nodata", "expected"), CASES)
def test_grid_and_kernel_mask_the_same_cells(dtype: type, nodata: float, expected: object) -> None:
    value = nodata_in_dtype(nodata, np.dtype(dtype))
    if expected is None:
        assert value is None
    else:
        assert value == expected and value.dtype == np.dtype(dtype)
    fill = 0 if expected is None else expected
    values = np.array([[fill, 7], [8, fill]], dtype=dtype)
    grid = ArrayRasterGrid(array=values, transform=Affine(1, 0, 0, 0, -1, 2), nodata=nodata)
    kept = grid.valid(values)
    # the cell centres, row by row
    sampled = sample_nearest(
        [0.5, 1.5, 0.5, 1.5], [1.5, 1.5, 0.5, 0.5], values, grid.transform, nodata
    )
    np.testing.assert_array_equal(~np.isnan(sampled), kept.ravel())
