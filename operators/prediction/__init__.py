"""Prediction: train a predictor of a shape attribute on the training collection and use it on other shapes."""
