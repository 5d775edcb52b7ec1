"""Every shell block of docs/*.md runs as written (see tests/fixtures/shell_blocks.py), each
file's blocks in order in a folder of their own."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fixtures.shell_blocks import (
    DOCS,
    REPO,
    Session,
    models_for_docs,
    run_doc_blocks,
    runnable,
)


@pytest.mark.integration
@pytest.mark.timeout(600)  # optimize alone takes ~1 min
@pytest.mark.parametrize("doc", [doc for doc in DOCS if doc.name != "README.md" and runnable(doc)],
                         ids=lambda doc: doc.relative_to(REPO).as_posix())
def test_doc_blocks_run_as_written(doc: Path, model_dir: Path, tmp_path: Path,
                                  doc_session: Session) -> None:
    run_doc_blocks(doc, tmp_path, models_for_docs(model_dir), doc_session)
