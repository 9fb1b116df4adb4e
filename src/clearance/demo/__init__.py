"""The ``clearance demo`` story: a small, real credit-scoring model lifecycle on synthetic data."""
