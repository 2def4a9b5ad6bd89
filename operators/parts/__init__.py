"""Parts: learn a probabilistic part model from segmented shapes; assemble, swap and adjust parts."""
