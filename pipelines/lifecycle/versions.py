"""The lifecycle's words for the versions a running pipeline holds: a :class:`Version` (one
version of a model: its label, sha256, bytes and training profile), a :class:`Candidate` (a
version run beside the serving one, as a shadow or a canary) and its :data:`Mode`.

A candidate is written once and held in three forms, by what its holder knows of the
version: the aliases name a label (``Candidate[str]``), the model's store holds the version
(``Candidate[Version]``), a worker runs it loaded (``Candidate[ModelBackend]``, the online
side's ``LoadedCandidate``); :meth:`Candidate.holding` moves from one to the next.

>>> wanted = Candidate("2", "canary", 0.1)
>>> wanted.holding(Version("2", "5e1f", b"onnx bytes"))
Candidate(version=Version(label='2', sha256='5e1f'), mode='canary', share=0.1)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Generic, Literal, TypeVar

from streaminfer.operators.profile import Profile


def version_label(version: str) -> str:
    """How every screen, log and plot names a version: ``v3`` for a registry version (or one
    already written ``v3``); a file model's version (its sha256's first 12 hex digits) as
    ``sha256 af27c3d1e2f0``, never as a ``v``-number.

    >>> version_label("3"), version_label("v3"), version_label("af27c3d1e2f0")
    ('v3', 'v3', 'sha256 af27c3d1e2f0')
    """
    if version.isdigit():
        return f"v{version}"
    if version[:1] == "v" and version[1:].isdigit():
        return version
    return f"sha256 {version}"


Mode = Literal["shadow", "canary"]
"""How a candidate runs: ``shadow`` scores a copy of every event (its predictions go to the
shadow topic only); ``canary`` answers a stable share of the events, chosen by their id."""


@dataclass(frozen=True)
class Version:
    """One version of a model as a running pipeline holds it: its ``label`` (the registry's
    version, or the YAML's), the ``sha256`` of its ONNX bytes, the bytes, and the training
    profile drift compares its traffic with (``None``: none, or drift is off)."""

    label: str
    sha256: str
    data: bytes = field(repr=False)
    profile: Profile | None = field(default=None, repr=False)


V = TypeVar("V", covariant=True)
W = TypeVar("W")


@dataclass(frozen=True)
class Candidate(Generic[V]):
    """A version run beside the serving one, and how. ``version``: the version in its
    holder's form (a label, a :class:`Version`, a loaded backend); ``share``: a canary's
    share of the events, 0..1 (a shadow's is 0)."""

    version: V
    mode: Mode
    share: float = 0.0

    def holding(self, version: W) -> Candidate[W]:
        """The same candidate, its version in another form."""
        return Candidate(version, self.mode, self.share)
