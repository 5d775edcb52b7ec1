"""The ``source.raw`` section: how a record whose value is the picture's file itself
(``source.codec: raw``) becomes an event."""

from __future__ import annotations

from pydantic import Field

from streaminfer.pipelines.spec.base import FrozenModel


class RawValueSpec(FrozenModel):
    """With ``codec: raw``, the record's value is one event field's bytes as they are (a JPEG,
    PNG or WebP file: map it with ``model.inputs.NAME.picture``), and the event's id comes
    from the record key or a header (docs/pictures.md, 'Pictures as the record's value')."""

    field: str = Field(
        "value", min_length=1,
        description="The event field that holds the record's value (the field a picture "
        "input reads: model.inputs.NAME.field).",
    )
    id_header: str | None = Field(
        None, min_length=1,
        description="The record header holding the event id (UTF-8 text); default: the "
        "record key. A record without it is known by where it was read "
        "(topic/partition/offset).",
    )
