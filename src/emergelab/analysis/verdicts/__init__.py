"""Verdicts on curves: detect and classify emergence, thresholds and their intervals, training
seeds, comparing recipes, recipe studies, in-context learning."""
