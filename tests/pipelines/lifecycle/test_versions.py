from streaminfer.pipelines.lifecycle.versions import version_label


def test_a_registry_version_reads_v_and_a_file_models_reads_its_sha256() -> None:
    assert [version_label(v) for v in ("1", "12", "v3", "af275799cb0c", "v3a")] == [
        "v1", "v12", "v3", "sha256 af275799cb0c", "sha256 v3a"]
