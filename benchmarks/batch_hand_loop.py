"""The hand-written batch loop that `benchmarks/batch.py` measures `streaminfer batch`
against, as a user would write it without streaminfer: pyarrow reads batches -> ONNX Runtime
(one thread) -> pyarrow writes id, label and probabilities. Run alone it is a whole process
(its imports included), as the benchmark's whole-process rounds time it:

    python benchmarks/batch_hand_loop.py MODEL.onnx ROWS.parquet OUT.parquet FEATURE...
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pyarrow as pa
import pyarrow.parquet as pq


def hand_loop(model: Path, source: Path, out: Path, features: list[str]) -> float:
    """Score ``source`` into ``out``; returns its seconds."""
    started = time.perf_counter()
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    writer = None
    for chunk in pq.ParquetFile(source).iter_batches(batch_size=4096, columns=["id", *features]):
        matrix = np.column_stack([chunk.column(f).to_numpy() for f in features]).astype(
            np.float32)
        labels, probabilities = session.run(None, {name: matrix})
        table = pa.table({"id": chunk.column("id"), "label": labels,
                          "probabilities": pa.array(list(probabilities))})
        writer = writer or pq.ParquetWriter(out, table.schema)
        writer.write_table(table)
    assert writer is not None
    writer.close()
    return time.perf_counter() - started


if __name__ == "__main__":
    model_path, source_path, out_path, *names = sys.argv[1:]
    hand_loop(Path(model_path), Path(source_path), Path(out_path), names)
