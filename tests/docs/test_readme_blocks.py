"""Every shell block of README.md runs as written (see tests/fixtures/shell_blocks.py): the
tour's build-models, broker, produce, bounded run, tail and batch lines, in one folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fixtures.shell_blocks import REPO, Session, models_for_docs, run_doc_blocks


@pytest.mark.integration
# Ten commands (a Serve pipeline among them): over the suite's 5-minute limit under load.
@pytest.mark.timeout(900)
def test_readme_blocks_run_as_written(model_dir: Path, tmp_path: Path,
                                      doc_session: Session) -> None:
    run_doc_blocks(REPO / "README.md", tmp_path, models_for_docs(model_dir), doc_session)
