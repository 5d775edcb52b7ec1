"""Picture files as the events the online path sees, so that one decoder and one
preprocessing (``operators/pictures.py``) serve both: each file becomes the JSON event
``{ID_FIELD: its path relative to the folder, PICTURE_FIELD: its bytes as base64}``.

The record's origin is ``topic`` = the file (as a URI when the input was one), ``partition``
and ``offset`` 0, ``key`` = the relative path. A picture's dead letter holds the file's own
bytes (not the event made of them), and one that cannot be read (or that is larger than
``source.max_record_bytes`` as base64, left unread) is a dead letter with no value.
"""

from __future__ import annotations

import base64
import dataclasses
import posixpath
from collections.abc import Iterator
from dataclasses import dataclass

import orjson

from streaminfer.errors import ConfigError
from streaminfer.operators.batch_units import Unit
from streaminfer.operators.dead_letter import SOURCE_TOPIC, DeadLetter, dead_letter
from streaminfer.operators.records import Record, RecordError, SourceRecord
from streaminfer.pipelines.batch.files import filesystem_of
from streaminfer.pipelines.spec.schema import PipelineSpec


def picture_field(spec: PipelineSpec) -> str | None:
    """The event field the pipeline's picture input reads (``None``: no model takes
    pictures); a :class:`ConfigError` when picture inputs read several fields."""
    fields = {binding.field for model in spec.model_specs
              for binding in (model.inputs or {}).values() if binding.picture is not None}
    if len(fields) > 1:
        raise ConfigError(f"picture inputs read the fields {', '.join(sorted(map(str, fields)))}"
                          "; a folder of pictures feeds one: map one picture input per model")
    return next(iter(fields), None)


@dataclass(frozen=True)
class PictureFiles:
    """How a unit's picture files become records: which field gets the picture, which the id."""

    field: str
    id_field: str | None
    max_record_bytes: int
    max_batch_bytes: int | None = None  # batching.max_bytes: bytes of events in one call

    def chunks(self, unit: Unit, stamp_ms: int,
               batch_size: int) -> Iterator[tuple[list[Record], list[DeadLetter],
                                                  dict[str, bytes]]]:
        """The unit's files, ``batch_size`` at a time and, with ``max_batch_bytes``, no more
        of them than fit in that many bytes of events (one at least): their records, the dead
        letters of those not read, and each read file's bytes by its ``topic``."""
        records: list[Record] = []
        unread: list[DeadLetter] = []
        originals: dict[str, bytes] = {}
        held = 0
        for name in unit.files:
            path = posixpath.join(unit.path, name)
            try:
                data = self._read(path)
            except RecordError as error:
                unread.append(dead_letter(
                    SourceRecord(path, 0, 0, stamp_ms, name.encode(), None), error))
                record = None
            else:
                event = {self.field: base64.b64encode(data).decode("ascii")}
                if self.id_field is not None:
                    event = {self.id_field: name, **event}
                record = SourceRecord(path, 0, 0, stamp_ms, name.encode(), orjson.dumps(event))
                size = len(record.value or b"")
                if records and self.max_batch_bytes is not None \
                        and held + size > self.max_batch_bytes:
                    yield records, unread, originals
                    records, unread, originals, held = [], [], {}, 0
                records.append(record)
                originals[path] = data
                held += size
            if len(records) + len(unread) >= batch_size:
                yield records, unread, originals
                records, unread, originals, held = [], [], {}, 0
        if records or unread:
            yield records, unread, originals

    def _read(self, path: str) -> bytes:
        filesystem, inner = filesystem_of(path)
        try:
            with filesystem.open_input_file(inner) as handle:
                size = handle.size()
                encoded = 4 * -(-size // 3)
                if encoded > self.max_record_bytes:
                    raise RecordError(
                        "oversized_record", f"picture file {path} is {size} bytes, {encoded} "
                        "as base64 in an event, more than source.max_record_bytes "
                        f"({self.max_record_bytes})", "decode")
                return bytes(handle.read())
        except OSError as exc:
            raise RecordError("unreadable_file", f"picture file {path} cannot be read: {exc}",
                              "decode") from None


def with_files(letters: list[DeadLetter], originals: dict[str, bytes]) -> list[DeadLetter]:
    """Dead letters of picture events holding the picture file's bytes instead."""
    out = []
    for letter in letters:
        topic = dict(letter.headers).get(SOURCE_TOPIC, b"").decode("utf-8", "replace")
        data = originals.get(topic)
        out.append(letter if data is None else dataclasses.replace(letter, value=data))
    return out
