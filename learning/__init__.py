"""Models and training, free of Blender."""
