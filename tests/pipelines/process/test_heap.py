import gc

from streaminfer.pipelines.process.heap import freeze_heap


def test_freeze_heap_moves_live_objects_out_of_the_collectors_reach():
    gc.unfreeze()
    assert gc.get_freeze_count() == 0
    try:
        freeze_heap()
        assert gc.get_freeze_count() > 1000  # the interpreter's and pytest's objects at least
    finally:
        gc.unfreeze()
