"""Experiments: the training pipeline, evaluation, comparisons, reports and plots."""
