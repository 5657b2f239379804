"""Uploads, streamed: the multipart body is parsed as it arrives and the file part written to
a staging file, so nothing past the size limit is ever read, held or written.

FastAPI's `UploadFile` lets python-multipart spool the whole body before the route runs, so
a size limit checked there comes after the disk is full. Here python-multipart's low-level
`MultipartParser` is fed from `request.stream()`: the file part goes to a staging file under
`<library>/.smarttags-uploads/` (hidden, so indexing skips it; on the library's filesystem,
so the move into place is atomic), and at `max_file_mb` the read stops with 413 and the
staging file is removed. The content is sniffed (catalog/media_sniff.py) before the file is
moved into the library: empty is 422, not a video or image we tag is 415.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from fastapi import HTTPException
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from catalog.asset import MediaType, has_control, normalize_folder
from catalog.media_sniff import HEAD_BYTES, media_type_of, sniff
from catalog.settings import Settings

STAGING_DIR = ".smarttags-uploads"
NAME_MAX_BYTES = 255  # what POSIX file systems allow for one path part
FILE_FIELD = "file"
TEXT_FIELDS = ("folder", "replace")
MAX_PARTS = 8  # file, folder, replace, and a little slack for clients' extras
_MIB = 1024 * 1024
_BOOLEANS = {"true": True, "false": False}


def refuse(status: int, detail: str) -> HTTPException:
    return HTTPException(status, detail)


def body_limit(settings: Settings, limit: FileLimit | None = None) -> int:
    """The most a body may hold: the file at its limit plus the multipart framing."""
    return (limit or upload_limit(settings)).bytes + settings.upload_overhead_kb * 1024


def check_declared_length(
    headers: Any, settings: Settings, limit: FileLimit | None = None
) -> None:
    """413 at once when Content-Length says the body is over the limit: nothing is read."""
    declared = headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > body_limit(settings, limit):
        raise _too_large(limit or upload_limit(settings))


@dataclass(frozen=True)
class FileLimit:
    """How large the file part of a form may be, and the setting that says so."""

    mb: float
    setting: str

    @property
    def bytes(self) -> int:
        return int(self.mb * _MIB)


def upload_limit(settings: Settings) -> FileLimit:
    return FileLimit(settings.max_file_mb, "SMARTTAGS_MAX_FILE_MB")


def _too_large(limit: FileLimit) -> HTTPException:
    return refuse(413, f"the file is larger than the {limit.mb:g} MB limit ({limit.setting})")


def boundary_of(content_type: str | None) -> bytes:
    kind, options = parse_options_header(content_type)
    boundary = options.get(b"boundary")
    if kind != b"multipart/form-data" or not boundary:
        raise refuse(415, "send the file as multipart/form-data with a `file` part")
    return boundary


@dataclass
class _Part:
    headers: dict[str, bytes] = field(default_factory=dict)
    name: str | None = None
    filename: str | None = None
    value: bytearray = field(default_factory=bytearray)


@dataclass
class StagedUpload:
    """The parsed form: the file staged under the library, and the text fields."""

    staged: Path
    filename: str
    size: int
    head: bytes
    fields: dict[str, str]

    def discard(self) -> None:
        self.staged.unlink(missing_ok=True)


class _FormReader:
    """python-multipart callbacks that stage the one `file` part and keep small text parts."""

    def __init__(self, settings: Settings, out: IO[bytes], limit: FileLimit) -> None:
        self.settings = settings
        self.out = out
        self.file_limit = limit
        self.limit = limit.bytes
        self.field_limit = settings.max_path_bytes * 4  # a path, with slack for white space
        self.size = 0
        self.head = bytearray()
        self.files = 0
        self.parts = 0
        self.filename: str | None = None
        self.fields: dict[str, str] = {}
        self._part = _Part()
        self._field_name = bytearray()
        self._field_value = bytearray()

    def callbacks(self) -> dict[str, Any]:
        return {
            "on_part_begin": self._begin,
            "on_header_field": self._header_field,
            "on_header_value": self._header_value,
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_done,
            "on_part_data": self._data,
            "on_part_end": self._end,
        }

    def _begin(self) -> None:
        self.parts += 1
        if self.parts > MAX_PARTS:
            raise refuse(422, f"the form has more than {MAX_PARTS} parts")
        self._part = _Part()

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._field_name += data[start:end]

    def _header_value(self, data: bytes, start: int, end: int) -> None:
        self._field_value += data[start:end]

    def _header_end(self) -> None:
        self._part.headers[self._field_name.decode("latin-1").lower()] = bytes(self._field_value)
        self._field_name, self._field_value = bytearray(), bytearray()

    def _headers_done(self) -> None:
        _, options = parse_options_header(self._part.headers.get("content-disposition"))
        self._part.name = _text(options.get(b"name", b""), "a part name")
        if b"filename" in options and self._part.name == FILE_FIELD:
            self.files += 1
            if self.files > 1:
                raise refuse(422, "send one `file` part per upload")
            self.filename = _text(options[b"filename"], "the file name")
            _file_name(self.filename)  # refuse a bad name before reading the file
            self._part.filename = self.filename

    def _data(self, data: bytes, start: int, end: int) -> None:
        chunk = data[start:end]
        if self._part.filename is not None:
            self.size += len(chunk)
            if self.size > self.limit:
                raise _too_large(self.file_limit)
            if len(self.head) < HEAD_BYTES:
                self.head += chunk[: HEAD_BYTES - len(self.head)]
            self.out.write(chunk)
            return
        self._part.value += chunk
        if len(self._part.value) > self.field_limit:
            raise refuse(422, f"the form field {self._part.name!r} is too long")

    def _end(self) -> None:
        name = self._part.name
        if self._part.filename is None and name in TEXT_FIELDS:
            if name in self.fields:
                raise refuse(422, f"send the form field {name!r} once")
            self.fields[name] = _text(bytes(self._part.value), f"the form field {name!r}")


def _text(raw: bytes, what: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise refuse(422, f"{what} must be UTF-8") from None


@contextlib.contextmanager
def _staging_file(folder: Path) -> Iterator[tuple[Path, IO[bytes]]]:
    folder.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(dir=folder, prefix="upload-")
    path = Path(name)
    try:
        with os.fdopen(handle, "wb") as out:
            yield path, out
    except BaseException:
        path.unlink(missing_ok=True)
        raise


async def read_form(
    stream: AsyncIterator[bytes],
    boundary: bytes,
    settings: Settings,
    limit: FileLimit | None = None,
    staging: Path | None = None,
) -> StagedUpload:
    """Parse the body, staging the file part (under `staging`, default the library's staging
    folder); stops at the first broken limit (the staging file removed)."""
    limit = limit or upload_limit(settings)
    total, ceiling = 0, body_limit(settings, limit)
    with _staging_file(staging or settings.library_dir / STAGING_DIR) as (path, out):
        reader = _FormReader(settings, out, limit)
        parser = MultipartParser(boundary, reader.callbacks())
        try:
            async for chunk in stream:
                total += len(chunk)
                if total > ceiling:
                    raise _too_large(limit)
                parser.write(chunk)
            parser.finalize()
        except MultipartParseError as exc:
            raise refuse(422, f"the body is not valid multipart/form-data: {exc}") from None
    if reader.files == 0 or reader.filename is None:
        Path(path).unlink(missing_ok=True)
        raise refuse(422, "the form has no `file` part")
    return StagedUpload(path, reader.filename, reader.size, bytes(reader.head), reader.fields)


@dataclass(frozen=True)
class UploadTarget:
    rel: str  # library-relative path
    media_type: MediaType
    replace: bool


def target_of(upload: StagedUpload, settings: Settings) -> UploadTarget:
    """Where the file goes and what it is; 422/415 for a name, folder or content we refuse."""
    name = _file_name(upload.filename)
    try:
        folder = normalize_folder(upload.fields.get("folder", ""))
    except ValueError as exc:
        raise refuse(422, f"folder: {exc}") from None
    rel = f"{folder}/{name}" if folder else name
    too_long = [p for p in rel.split("/") if len(p.encode()) > NAME_MAX_BYTES]
    if too_long:
        raise refuse(422, f"a path part is longer than {NAME_MAX_BYTES} bytes: {too_long[0][:40]}…")
    if len(rel.encode()) > settings.max_path_bytes:
        raise refuse(
            422,
            f"the path is longer than {settings.max_path_bytes} bytes (SMARTTAGS_MAX_PATH_BYTES)",
        )
    replace = _boolean(upload.fields.get("replace", "false"), "replace")
    if upload.size == 0:
        raise refuse(422, "the file is empty")
    media = media_type_of(sniff(upload.head))
    if media is None:
        raise refuse(415, "the file is not a video or image we tag (by its content)")
    return UploadTarget(rel, media, replace)


def _file_name(given: str) -> str:
    if has_control(given):
        raise refuse(422, "the file name must not contain control characters")
    base = given.replace("\\", "/").rsplit("/", 1)[-1].strip()
    if not base or base.startswith("."):
        raise refuse(422, "the upload needs a file name that does not start with '.'")
    return base


def _boolean(value: str, name: str) -> bool:
    found = _BOOLEANS.get(value.strip().lower())
    if found is None:
        raise refuse(422, f"{name} must be true or false")
    return found


def place(upload: StagedUpload, target: Path, replace: bool) -> bool:
    """Move the staged file to `target`; False when it exists and `replace` is off. Returns
    True when the file was placed."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if replace:
        os.replace(upload.staged, target)
        return True
    try:
        # link-then-unlink: never overwrites a file that appeared meanwhile (os.replace would)
        os.link(upload.staged, target)
    except FileExistsError:
        return False
    except OSError:  # a file system without hard links
        if target.exists():
            return False
        os.replace(upload.staged, target)
        return True
    upload.discard()
    return True


def multipart_form(file_description: str, **fields: dict[str, Any]) -> dict[str, Any]:
    """The OpenAPI request body of a route that reads its multipart stream itself: a required
    binary `file` part and the given other fields."""
    file_part = {"type": "string", "format": "binary", "description": file_description}
    schema = {"type": "object", "required": ["file"], "properties": {"file": file_part, **fields}}
    content = {"multipart/form-data": {"schema": schema}}
    return {"requestBody": {"required": True, "content": content}}
