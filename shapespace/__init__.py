"""Shape representations and conversions, free of Blender: mesh arrays, datasets, descriptors."""
