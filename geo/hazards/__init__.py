"""Hazard footprints: read, validate and normalise what disaster agencies send.

``read_hazard`` takes a GeoTIFF/COG, NetCDF (with a time axis), GeoJSON, GeoPackage, zipped
Shapefile, TopoJSON, GeoParquet or CSV point grid, refuses broken input with an
:class:`~rahat.geo.errors.InputError` subclass, and returns one :class:`HazardLayer` in the
file's native CRS (rasters stay lazy, read by window).
"""

from rahat.geo.hazards.area import EQUAL_AREA_CRS, class_areas_m2
from rahat.geo.hazards.classes import Classification, default_classes, load_classes
from rahat.geo.hazards.diff import diff_hazards
from rahat.geo.hazards.grid import ArrayRasterGrid, FileRasterGrid, RasterGrid
from rahat.geo.hazards.inspect import inspect_hazard
from rahat.geo.hazards.kinds import HazardKind
from rahat.geo.hazards.layer import HazardLayer, RasterStats
from rahat.geo.hazards.limits import DEFAULT_LIMITS, HazardLimits
from rahat.geo.hazards.provenance import Provenance
from rahat.geo.hazards.read import check_overlap, read_hazard
from rahat.geo.hazards.time import TimeSelection

__all__ = [
    "DEFAULT_LIMITS",
    "EQUAL_AREA_CRS",
    "ArrayRasterGrid",
    "Classification",
    "FileRasterGrid",
    "HazardKind",
    "HazardLayer",
    "HazardLimits",
    "Provenance",
    "RasterGrid",
    "RasterStats",
    "TimeSelection",
    "check_overlap",
    "class_areas_m2",
    "default_classes",
    "diff_hazards",
    "inspect_hazard",
    "load_classes",
    "read_hazard",
]
