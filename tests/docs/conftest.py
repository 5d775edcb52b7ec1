"""What the doc-tests share with the test session."""

from __future__ import annotations

import pytest

from tests.fixtures.shell_blocks import Session


@pytest.fixture
def doc_session(ray_address: str, http_port: int) -> Session:
    """The session's Ray and Serve port, for ``run_doc_blocks``."""
    return Session(ray_address, http_port)
