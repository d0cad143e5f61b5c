"""Scaling laws and the compute planner: Chinchilla, Kaplan and broken power laws, their batched
optimisers, compute-optimal splits."""
