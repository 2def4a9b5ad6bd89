"""Recognition: multi-view classifiers, similar-shape search and sketch-based search over a library."""
