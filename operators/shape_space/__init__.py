"""Shape space: learn a PCA shape space (or an articulated one for posed bodies) from a collection, its
attribute sliders, generation, projection of a shape into the space."""
