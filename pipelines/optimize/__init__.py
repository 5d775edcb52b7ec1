"""``streaminfer optimize``: variants of a model (graph optimization, int8, fp16, pruning),
measured for speed and for metric loss on labelled data, compared, reported, registered."""
