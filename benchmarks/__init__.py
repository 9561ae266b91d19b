"""Benchmarks, each run as ``python -m benchmarks.NAME`` from the repository root: ``steps``
(training steps against PyTorch and JAX), ``gradcheck`` (the check against torch's),
``allocator`` (train() with and without keep_freed_memory()), ``e2e_power``."""
