"""Zip archives (zipped Shapefile, zipped GeoTIFF, ...): check every member before reading.

Nothing is extracted: once the member list is judged safe, the one dataset inside is read
through GDAL's ``/vsizip/`` file system.
"""

from __future__ import annotations

import stat
import zipfile
from pathlib import Path, PurePosixPath

from rahat.geo.errors import SchemaError, UnreadableFileError, UnsafeArchiveError
from rahat.geo.hazards.limits import HazardLimits

_ARCHIVE_SUFFIXES = {".zip", ".gz", ".tgz", ".tar", ".7z", ".rar", ".bz2", ".xz", ".kmz", ".zst"}
_ARCHIVE_MAGIC = (b"PK\x03\x04", b"\x1f\x8b", b"7z\xbc\xaf", b"Rar!", b"BZh", b"\xfd7zXZ")
#: Dataset member suffix -> format name used by the readers.
_DATASETS = {
    ".shp": "shapefile",
    ".gpkg": "gpkg",
    ".geojson": "geojson",
    ".json": "geojson",
    ".topojson": "topojson",
    ".tif": "tiff",
    ".tiff": "tiff",
}


def _unsafe_name(name: str) -> bool:
    if name.startswith(("/", "\\")) or "\\" in name or (len(name) > 1 and name[1] == ":"):
        return True
    return ".." in PurePosixPath(name).parts


def check_zip(path: str | Path, limits: HazardLimits) -> tuple[str, str]:
    """Check a zip archive and return ``(member, format)`` of the one dataset it holds.

    Parameters
    ----------
    path
        The zip file.
    limits
        Member count, uncompressed size and compression-ratio limits.

    Raises
    ------
    UnsafeArchiveError
        Paths leaving the archive, links, nested archives, encrypted members, zip bombs.
    UnreadableFileError
        Not a valid zip, or no dataset inside.
    SchemaError
        Several datasets inside.
    """
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise UnreadableFileError(
            f"is not a readable zip archive ({exc}); the file is truncated or corrupt, ask the "
            "sender again",
            source=path,
        ) from None
    with zf:
        infos = zf.infolist()
        if len(infos) > limits.max_archive_members:
            raise UnsafeArchiveError(
                f"the archive has {len(infos)} members, more than {limits.max_archive_members}; "
                "send only the hazard layer",
                source=path,
            )
        total = 0
        datasets: list[tuple[str, str]] = []
        for info in infos:
            name = info.filename
            if _unsafe_name(name):
                raise UnsafeArchiveError(
                    f"member {name!r} has a path that leaves the archive; refusing it, ask the "
                    "sender for a plain zip of the layer's files",
                    source=path,
                )
            mode = info.external_attr >> 16
            if stat.S_ISLNK(mode):
                raise UnsafeArchiveError(
                    f"member {name!r} is a symbolic link; refusing the archive", source=path
                )
            if info.flag_bits & 0x1:
                raise UnsafeArchiveError(
                    f"member {name!r} is encrypted; send the archive without a password",
                    source=path,
                )
            if info.is_dir():
                continue
            total += info.file_size
            if total > limits.max_uncompressed_bytes:
                raise UnsafeArchiveError(
                    f"the archive expands to more than {limits.max_uncompressed_bytes:,} bytes; "
                    "send the layer clipped or uncompressed",
                    source=path,
                )
            if info.file_size > limits.max_compression_ratio * max(info.compress_size, 1):
                raise UnsafeArchiveError(
                    f"member {name!r} expands {info.file_size / max(info.compress_size, 1):,.0f} "
                    "times (zip bomb?); refusing the archive",
                    source=path,
                )
            pure = PurePosixPath(name)
            if pure.name.startswith(".") or "__MACOSX" in pure.parts:
                continue
            suffix = pure.suffix.lower()
            if suffix in _ARCHIVE_SUFFIXES or _member_magic(zf, info).startswith(_ARCHIVE_MAGIC):
                raise UnsafeArchiveError(
                    f"member {name!r} is itself an archive; nested archives are refused, send "
                    "one flat zip",
                    source=path,
                )
            if suffix in _DATASETS:
                datasets.append((name, _DATASETS[suffix]))
                if _DATASETS[suffix] == "tiff":
                    _check_tiff_member(zf, info, limits, path)
    if not datasets:
        raise UnreadableFileError(
            "the archive holds no hazard layer (.shp with .shx/.dbf/.prj, .gpkg, .geojson, "
            ".tif); send one of those",
            source=path,
        )
    if len(datasets) > 1:
        names = ", ".join(n for n, _ in datasets)
        raise SchemaError(
            f"the archive holds several layers ({names}); send one layer per archive",
            source=path,
        )
    return datasets[0]


def _check_tiff_member(
    zf: zipfile.ZipFile, info: zipfile.ZipInfo, limits: HazardLimits, path: str | Path
) -> None:
    """Refuse a zipped TIFF whose header claims too many pixels, before GDAL opens it.

    The work limits (``max_pixels``, ``max_decoded_bytes``) are checked when the raster is
    opened, on the window that will be read.
    """
    from rahat.geo.hazards.raster import check_header_pixels, tiff_dimensions

    with zf.open(info) as fh:
        dims = tiff_dimensions(fh)  # type: ignore[arg-type]  # a zip member is a binary file
    if dims is not None:
        check_header_pixels(dims[0], dims[1], limits, f"{path}!{info.filename}")


def _member_magic(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
    try:
        with zf.open(info) as fh:
            return fh.read(8)
    except (zipfile.BadZipFile, OSError, RuntimeError, EOFError) as exc:
        raise UnreadableFileError(
            f"member {info.filename!r} cannot be read ({exc}); the archive is corrupt, ask the "
            "sender again",
            source=zf.filename,
        ) from None


def vsizip_path(path: str | Path, member: str) -> str:
    """Return the GDAL ``/vsizip/`` path of ``member`` inside the zip ``path``."""
    return f"/vsizip/{Path(path).resolve()}/{member}"
