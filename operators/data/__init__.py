"""Data: the built-in demo collections, imported datasets, and the training collection exported as a dataset."""
