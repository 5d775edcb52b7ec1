"""The doc-test's reading of markdown: which blocks are shell, what a skip marker says, and
that every skip gives its reason (README.md and docs/*.md run in test_readme_blocks.py and
test_docs_blocks.py)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.fixtures.shell_blocks import (
    DOCS,
    OWNER,
    REPO,
    Ports,
    shell_blocks,
    sweep_orphans,
    user_env,
)


def test_blocks_are_found_with_their_skip_reasons(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("Intro\n\n```bash\necho one\n```\n\n<!-- doctest: skip (runs forever) -->\n\n"
                    "```sh\nyes\n```\n```yaml\nnot: shell\n```\n```console\n$ echo two\n"
                    "two\n```\n```text\n$ echo three\n```\n")
    blocks = shell_blocks(page)
    assert [(b.line, b.code, b.skip) for b in blocks] == [
        (3, "echo one\n", None), (9, "yes\n", "runs forever"), (15, "echo two\n", None)]



def test_every_doc_block_is_run_or_says_why_not() -> None:
    blocks = [block for doc in DOCS for block in shell_blocks(doc)]
    ran = [block for block in blocks if block.skip is None]
    assert ran and all(block.skip is None or len(block.skip) > 10 for block in blocks)


def test_the_fixed_ports_are_changed_in_configs_and_blocks() -> None:
    ports = Ports(kafka=1111, http=2222)
    serve = ports.into_config((REPO / "configs" / "fraud-serve.yaml").read_text())
    assert "\n  port: 2222\n" in serve and "\nmetrics:\n  port: 0\n" in serve
    assert "8000\n" not in serve
    scoring = ports.into_config((REPO / "configs" / "fraud-scoring.yaml").read_text())
    assert "bootstrap_servers: localhost:1111" in scoring
    assert ports.into_block("broker --port 9092 & curl localhost:8000/score") == (
        "broker --port 1111 & curl localhost:2222/score")


def test_what_a_killed_doc_test_left_is_swept_and_nothing_else() -> None:
    """A process whose doc-test is gone (its owner's id lives on with another start time) is
    killed; one of this test process's, and one without the mark, are left alone."""
    ours = user_env("unused")
    gone = {**ours, OWNER: ours[OWNER].split("@")[0] + "@1.000"}
    unmarked = {key: value for key, value in ours.items() if key != OWNER}
    procs = [subprocess.Popen(["cat"], stdin=subprocess.PIPE, env=env)
             for env in (gone, ours, unmarked)]
    try:
        killed = sweep_orphans()
        assert procs[0].wait(10) != 0 and procs[0].pid in killed
        assert procs[1].poll() is None and procs[2].poll() is None
        assert not {procs[1].pid, procs[2].pid} & set(killed)
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()
