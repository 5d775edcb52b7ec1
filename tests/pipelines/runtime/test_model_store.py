"""The model store's versions (plain class, no Ray): the current and the previous one stay
reachable by version while the Serve applications of a model change; a failed swap is undone."""

from streaminfer.pipelines.lifecycle.versions import Version
from streaminfer.pipelines.runtime.model_store import ModelStore


def test_the_store_keeps_the_previous_version_reachable_and_can_undo_a_put() -> None:
    v1, v2, v3 = (Version(str(n), f"{n}" * 64, f"bytes{n}".encode()) for n in (1, 2, 3))
    store = ModelStore(v1)
    store.put(v2)
    assert store.current() == v2
    assert (store.get_version("1"), store.get_version("2")) == (b"bytes1", b"bytes2")
    store.put(v3)
    assert store.get_version("1") is None and store.get_version("2") == b"bytes2"
    store.revert()  # v3's application did not start: v2 runs on
    assert store.current() == v2 and store.get() == b"bytes2"
    assert store.get_version("3") is None
    store.revert()  # nothing more to undo
    assert store.current() == v2
