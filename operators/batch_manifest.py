"""The manifest of a batch job: its plan (every unit) and the units already finished.

Written atomically (a temporary file in the same folder, then a rename), so a job stopped at
any point leaves either the old manifest or the new one. A job started again with the same
output reads it, checks that it is the same job, and skips the finished units.

>>> m = Manifest.new("/tmp/none.json", {"input": "a.parquet"}, [Unit("part-00000", "csv", "a")])
>>> m.mark_done("part-00000", rows=3, predictions=2, dead_letters=1)
>>> [u.key for u in m.pending()], m.totals()
([], {'rows': 3, 'predictions': 2, 'dead_letters': 1})
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from streaminfer.operators.batch_units import Unit

VERSION = 1
#: A unit's counts: its rows are its predictions plus its dead letters. Manifests written
#: before 2026-12-06 name the dead letters ``rejects``; they are read under the new name.
COUNTS = ("rows", "predictions", "dead_letters")
OLD_NAMES = {"rejects": "dead_letters"}


class ManifestMismatch(ValueError):
    """The output holds the manifest of another job."""


@dataclass
class Manifest:
    """Plan and progress of one job, kept in ``path``."""

    path: Path
    identity: dict[str, Any]
    units: list[Unit]
    done: dict[str, dict[str, int]] = field(default_factory=dict)

    @classmethod
    def new(cls, path: str | Path, identity: dict[str, Any], units: list[Unit]) -> Manifest:
        return cls(Path(path), dict(identity), list(units))

    @classmethod
    def load(cls, path: str | Path) -> Manifest | None:
        """The manifest at ``path``, or None when there is none."""
        path = Path(path)
        try:
            data = orjson.loads(path.read_bytes())
        except FileNotFoundError:
            return None
        except orjson.JSONDecodeError as exc:
            raise ManifestMismatch(f"{path} is not a manifest ({exc}); remove it") from None
        if not isinstance(data, dict) or data.get("version") != VERSION:
            raise ManifestMismatch(f"{path} is not a version-{VERSION} batch manifest")
        units = [Unit.from_dict(unit) for unit in data["units"]]
        done = {key: {OLD_NAMES.get(name, name): count for name, count in counts.items()}
                for key, counts in data["done"].items()}
        return cls(path, data["identity"], units, done)

    def check_identity(self, identity: dict[str, Any]) -> None:
        """Raise :class:`ManifestMismatch` unless ``identity`` is this job's."""
        differ = sorted(k for k in set(identity) | set(self.identity)
                        if identity.get(k) != self.identity.get(k))
        if differ:
            shown = ", ".join(f"{k} was {self.identity.get(k)!r}, now {identity.get(k)!r}"
                              for k in differ)
            raise ManifestMismatch(
                f"the output already holds another job ({shown}); give another output, or "
                f"remove {self.path.parent} to start over"
            )

    def pending(self) -> list[Unit]:
        return [unit for unit in self.units if unit.key not in self.done]

    def mark_done(self, key: str, *, rows: int, predictions: int, dead_letters: int) -> None:
        self.done[key] = {"rows": rows, "predictions": predictions, "dead_letters": dead_letters}

    def totals(self) -> dict[str, int]:
        sums = dict.fromkeys(COUNTS, 0)
        for counts in self.done.values():
            for name in sums:
                sums[name] += counts[name]
        return sums

    def save(self) -> None:
        """Write the manifest atomically."""
        data = {"version": VERSION, "identity": self.identity,
                "units": [unit.to_dict() for unit in self.units], "done": self.done}
        write_atomically(self.path, orjson.dumps(data, option=orjson.OPT_INDENT_2))


def write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to a temporary name beside ``path``, flush it to disk, rename it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(temporary, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
