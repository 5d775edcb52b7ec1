import gc

from streaminfer.pipelines.process.heap import YOUNG_THRESHOLD, freeze_heap


def test_freeze_heap_moves_live_objects_out_of_the_collectors_reach():
    gc.unfreeze()
    before = gc.get_threshold()
    assert gc.get_freeze_count() == 0
    try:
        freeze_heap()
        assert gc.get_freeze_count() > 1000  # the interpreter's and pytest's objects at least
        # the young generation is collected less often, the older ones as before
        assert gc.get_threshold() == (YOUNG_THRESHOLD, *before[1:])
        assert before[0] < YOUNG_THRESHOLD
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
