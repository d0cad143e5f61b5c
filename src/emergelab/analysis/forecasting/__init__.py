"""Forecasting: predict larger models from smaller ones (and say "no signal yet"), observational
scaling from standard benchmarks."""
