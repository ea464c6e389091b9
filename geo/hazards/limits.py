"""Size limits applied to hazard inputs before (and while) they are read."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class HazardLimits:
    """Limits that keep a hazard file from exhausting memory or time.

    Pixel counts and decoded sizes come from the file header (or, for a CSV point grid, from
    the points' spacing and extent) and are checked before any pixel is decoded or any grid is
    allocated.

    Parameters
    ----------
    max_pixels
        Most cells decoded per upload (the work limit): rows x cols of a raster, or of the
        window read from it when a registry extent is given (whole blocks or strips touched);
        x time steps for NetCDF; the implied grid of a CSV point grid.
    max_decoded_bytes
        Largest decoded size (cells x bytes per cell) read per upload: a GeoTIFF (or its window),
        one time step of a NetCDF variable (or one compressed chunk), a CSV point grid (float64).
    max_header_pixels
        Largest raster a file may claim at all (rows x cols); a larger header is refused even
        when only a window of it would be read.
    max_vertices
        Largest total number of polygon vertices accepted.
    max_features
        Largest number of vector features accepted.
    max_points
        Largest number of CSV points accepted.
    max_archive_members
        Largest number of members in a zip archive.
    max_uncompressed_bytes
        Largest total uncompressed size of a zip archive's members.
    max_compression_ratio
        Largest uncompressed / compressed ratio of a zip member (zip-bomb guard).
    max_time_steps
        Largest number of time steps in a NetCDF variable.
    max_vector_bytes
        Largest vector file (bytes on disk, or uncompressed in a zip) read into memory.
    """

    max_pixels: int = 250_000_000
    max_decoded_bytes: int = 1024**3
    max_header_pixels: int = 5_000_000_000
    max_vertices: int = 20_000_000
    max_features: int = 1_000_000
    max_points: int = 20_000_000
    max_archive_members: int = 1_000
    max_uncompressed_bytes: int = 4 * 1024**3
    max_compression_ratio: float = 1_000.0
    max_time_steps: int = 100_000
    max_vector_bytes: int = 2 * 1024**3


DEFAULT_LIMITS = HazardLimits()
