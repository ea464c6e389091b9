"""Receive a multipart upload by streaming its file part straight to disk, with a size cap."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from fastapi import Request
from python_multipart import MultipartParser
from python_multipart.multipart import parse_options_header

from rahat.api.service.limits import allow_body
from rahat.api.service.storage import AtomicUpload, safe_filename
from rahat.geo.errors import InputError, TooLargeError, UnsupportedMediaTypeError

#: Largest accepted size of one non-file form field.
MAX_FIELD_BYTES = 16 * 1024
#: Largest accepted size of all non-file form fields together.
MAX_FORM_BYTES = 64 * 1024
#: Most parts (fields and the file) a multipart request may have.
MAX_PARTS = 32
#: Largest accepted size of the headers of one part.
MAX_PART_HEADER_BYTES = 8 * 1024
#: Allowance for multipart framing and form fields on top of the file size cap.
FRAMING_BYTES = 256 * 1024


@dataclass
class ReceivedUpload:
    """What a multipart request carried: its text fields and the (uncommitted) file."""

    fields: dict[str, str] = field(default_factory=dict)
    file: AtomicUpload | None = None
    filename: str | None = None


class _Collector:
    """Callbacks of :class:`python_multipart.MultipartParser` building a :class:`ReceivedUpload`."""

    def __init__(self, target_dir: Path, file_field: str, max_bytes: int) -> None:
        self.target_dir = target_dir
        self.file_field = file_field
        self.max_bytes = max_bytes
        self.result = ReceivedUpload()
        self._headers: dict[bytes, bytes] = {}
        self._name = b""
        self._value = b""
        self._field: bytes = b""
        self._buffer = bytearray()
        self._to_file = False
        self._parts = 0
        self._header_bytes = 0
        self._form_bytes = 0

    def on_part_begin(self) -> None:
        self._parts += 1
        if self._parts > MAX_PARTS:
            raise TooLargeError(f"the form has more than {MAX_PARTS} parts")
        self._headers = {}
        self._buffer = bytearray()
        self._to_file = False
        self._header_bytes = 0

    def _count_header(self, size: int) -> None:
        self._header_bytes += size
        if self._header_bytes > MAX_PART_HEADER_BYTES:
            raise TooLargeError(
                f"the headers of a form part are longer than {MAX_PART_HEADER_BYTES:,} bytes"
            )

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._count_header(end - start)
        self._name += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._count_header(end - start)
        self._value += data[start:end]

    def on_header_end(self) -> None:
        self._headers[self._name.lower()] = self._value
        self._name, self._value = b"", b""

    def on_headers_finished(self) -> None:
        disposition, params = parse_options_header(self._headers.get(b"content-disposition", b""))
        if disposition != b"form-data" or b"name" not in params:
            raise InputError(
                "Every multipart part needs 'Content-Disposition: form-data; name=...'."
            )
        self._field = params[b"name"]
        if b"filename" in params:
            if self._field.decode("utf-8", "replace") != self.file_field:
                raise InputError(
                    f"Unexpected file part '{self._field.decode('utf-8', 'replace')}': send the "
                    f"hazard file in the part named '{self.file_field}'."
                )
            if self.result.file is not None:
                raise InputError(f"Send exactly one file in the part '{self.file_field}'.")
            filename = params[b"filename"].decode("utf-8", "replace")
            self.result.filename = safe_filename(filename)
            self.result.file = AtomicUpload(
                self.target_dir / self.result.filename, max_bytes=self.max_bytes, private_dir=True
            )
            self._to_file = True

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self._to_file:
            assert self.result.file is not None
            self.result.file.write(data[start:end])
            return
        self._form_bytes += end - start
        if self._form_bytes > MAX_FORM_BYTES:
            raise TooLargeError(
                f"the form fields are longer than {MAX_FORM_BYTES:,} bytes together"
            )
        self._buffer += data[start:end]
        if len(self._buffer) > MAX_FIELD_BYTES:
            raise InputError(
                f"Form field '{self._field.decode('utf-8', 'replace')}' is longer than "
                f"{MAX_FIELD_BYTES} bytes."
            )

    def on_part_end(self) -> None:
        if not self._to_file:
            name = self._field.decode("utf-8", "replace")
            try:
                self.result.fields[name] = self._buffer.decode("utf-8")
            except UnicodeDecodeError:
                raise InputError(f"Form field '{name}' is not valid UTF-8.") from None


async def receive_upload(
    request: Request, target_dir: Path, *, file_field: str = "file", max_bytes: int
) -> ReceivedUpload:
    """Stream a ``multipart/form-data`` request body, writing its file part under ``target_dir``.

    The file is written under its own (sanitised) name in a private temporary folder next to
    its final place and is *not* committed: the caller validates it and then calls
    ``result.file.commit()`` (or ``abort()``).

    Parameters
    ----------
    request
        The incoming request.
    target_dir
        Folder the file will end up in, under its sanitised client-side name.
    file_field
        Name of the form part carrying the file.
    max_bytes
        Size cap of the file; beyond it the temporary file is removed and
        :class:`~rahat.geo.errors.TooLargeError` (413) is raised.

    Raises
    ------
    rahat.geo.errors.UnsupportedMediaTypeError
        (415) If the body is not multipart.
    rahat.geo.errors.InputError
        (422) For malformed or missing parts.
    rahat.geo.errors.TooLargeError
        If the file, the declared or received body (the file cap plus
        :data:`FRAMING_BYTES`), the form fields together (:data:`MAX_FORM_BYTES`), the number
        of parts (:data:`MAX_PARTS`) or a part's headers are larger than allowed.
    """
    content_type, params = parse_options_header(request.headers.get("content-type", ""))
    if content_type != b"multipart/form-data" or not params.get(b"boundary"):
        raise UnsupportedMediaTypeError(
            "Send the hazard as 'multipart/form-data' with the file in the part "
            f"'{file_field}' (for example: curl -F {file_field}=@flood.tif).",
        )
    total_cap = max_bytes + FRAMING_BYTES
    allow_body(request.scope, total_cap)  # the body limit of the request (see .limits)
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > total_cap:
        raise TooLargeError(
            f"the request declares {int(declared):,} bytes, more than the upload limit of "
            f"{max_bytes:,} bytes; send a smaller file or ask the operators to raise "
            "RAHAT_MAX_UPLOAD_BYTES"
        )
    collector = _Collector(target_dir, file_field, max_bytes)
    parser = MultipartParser(
        params[b"boundary"],
        callbacks={
            "on_part_begin": collector.on_part_begin,
            "on_part_data": collector.on_part_data,
            "on_part_end": collector.on_part_end,
            "on_header_field": collector.on_header_field,
            "on_header_value": collector.on_header_value,
            "on_header_end": collector.on_header_end,
            "on_headers_finished": collector.on_headers_finished,
        },
    )
    total = 0
    try:
        async for chunk in request.stream():
            total += len(chunk)
            if total > total_cap:
                raise TooLargeError(
                    f"the request is longer than {total_cap:,} bytes (the upload limit of "
                    f"{max_bytes:,} bytes and {FRAMING_BYTES:,} for the form); send a smaller "
                    "file or ask the operators to raise RAHAT_MAX_UPLOAD_BYTES"
                )
            if chunk:
                parser.write(chunk)
        parser.finalize()
    except BaseException as exc:
        if collector.result.file is not None:
            collector.result.file.abort()
        if isinstance(exc, InputError):
            raise
        if isinstance(exc, Exception) and type(exc).__module__.startswith("python_multipart"):
            raise InputError(f"The multipart body is malformed: {exc}.") from None
        raise
    if collector.result.file is None:
        raise InputError(
            f"No file received: send the hazard file in the multipart part '{file_field}'."
        )
    return collector.result
