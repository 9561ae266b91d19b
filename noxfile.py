"""Nox sessions, named by purpose. ``nox -l`` lists them; ``nox`` runs the default, ``tests``.

Dependencies are declared once, in pyproject.toml: users' extras and the sessions' own
dependency groups (PEP 735), both read from there.
"""

from __future__ import annotations

import nox

nox.options.sessions = ["tests"]
nox.options.reuse_venv = "yes"

PYPROJECT = nox.project.load_toml("pyproject.toml")


def _install(session: nox.Session, *extras: str, groups: tuple[str, ...] = ()) -> None:
    session.install("-e", f".[{','.join(extras)}]" if extras else ".")
    if groups:
        session.install(*nox.project.dependency_groups(PYPROJECT, *groups))


@nox.session
def tests(session: nox.Session) -> None:
    """Run the test suite on every core, all but the slow, GPU and end-to-end MNIST tests.

    Pass -n 0 to run it in one process."""
    _install(session, "jax", "plot", groups=("test",))
    serial = any(a.startswith("-n") for a in session.posargs)
    parallel = [] if serial else ["-n", "auto", "--dist", "loadgroup"]
    # One BLAS thread per worker: two workers of two threads each on two cores ran the suite
    # slower than one process did (4:45 against 3:44).
    threads = {} if serial else {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    session.run(
        "pytest", "-m", "not slow and not gpu and not e2e", *parallel, *session.posargs,
        env=threads,
    )  # fmt: skip


# The OpenBLAS kernels (OPENBLAS_CORETYPE) the numerically sensitive tests are repeated under.
# Each blocks a matrix product its own way, so two formulations of one sum agree in the last
# bits on one CPU and not on another: a test that held only for the CPU it was written on
# fails here on any. NumPy 2's OpenBLAS runs Prescott as its generic Katmai kernel.
KERNELS = ("Haswell", "SandyBridge", "Prescott")
# The tests whose verdicts rest on rounding: the mutation suite (each bug caught down to a
# relative size of 1e-5, no false alarm, the rewrites and equivalents against the plain
# backward up to rounding), the gradient check on every document's network and its diagnosis,
# the checks of losses computed in float32 inside and at degenerate points (test_trust), and
# the two comparisons of one computation written two ways that are exact (the gpu style
# against the vectorized one, the unchecked recipe against the checked one). Left out: the
# comparisons at tolerances a million times the rounding (the styles at 1e-12, a permutation
# of the examples at 1e-9), and the JAX oracle, whose side runs on XLA's kernels, not OpenBLAS.
SENSITIVE = (
    "tests/meta",
    "tests/test_oracles.py",
    "tests/test_diagnosis.py",
    "tests/test_trust.py",
    "tests/test_gpu_standin.py::test_gpu_style_on_the_standin_equals_vectorized_bit_for_bit",
    "tests/test_properties.py::test_the_unchecked_recipe_computes_the_checked_one_bit_for_bit",
)
_KERNEL_IN_USE = (
    "import numpy, threadpoolctl; "
    "print(*(i.get('architecture') for i in threadpoolctl.threadpool_info() "
    "if i.get('internal_api') == 'openblas'))"
)


@nox.session(default=False)
def kernels(session: nox.Session) -> None:
    """Rerun the rounding-sensitive tests under OpenBLAS Haswell, SandyBridge, Prescott kernels."""
    _install(session, groups=("test",))
    seen: dict[str, str] = {}
    for coretype in KERNELS:
        env = {"OPENBLAS_CORETYPE": coretype, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
        kernel = str(session.run("python", "-c", _KERNEL_IN_USE, env=env, silent=True)).strip()
        if not kernel:
            session.skip("NumPy's BLAS here is not OpenBLAS: OPENBLAS_CORETYPE changes nothing")
        if kernel in seen.values():
            session.error(f"OPENBLAS_CORETYPE={coretype} runs {kernel}, as {seen}: no new kernel")
        seen[coretype] = kernel
        session.log(f"OPENBLAS_CORETYPE={coretype}: threadpoolctl reports OpenBLAS's {kernel}")
        session.run(
            "pytest", *SENSITIVE, "-m", "not slow and not gpu and not e2e and not jax",
            "-n", "auto", "--dist", "loadgroup", *session.posargs, env=env,
        )  # fmt: skip


@nox.session
def mnist(session: nox.Session) -> None:
    """End-to-end MNIST accuracy of every document on shortened protocols (a few minutes)."""
    _install(session, "plot", groups=("test",))
    session.run("pytest", "-m", "e2e", "-v", *session.posargs)


@nox.session(default=False)
def reproduce(session: nox.Session) -> None:
    """Run every document's full published protocol (an hour or more on 2 cores)."""
    _install(session, "plot")
    session.run("python", "-m", "reference_nn", "reproduce", *session.posargs)


@nox.session(default=False)
def audit(session: nox.Session) -> None:
    """The main job: audit every document's derivation; reports land in reports/audit/."""
    _install(session, "jax", "plot", "properties")
    args = session.posargs or [
        "--json", "reports/audit/audit.json",
        "--markdown", "reports/audit/audit.md",
        "--plots", "reports/audit/plots",
    ]  # fmt: skip
    session.run("python", "-m", "oracles.audit", *args)


@nox.session(default=False)
def torch(session: nox.Session) -> None:
    """Run the checks of torch tensors (torch 2.13.0's CPU build; CUDA tensors where present)."""
    # The pin first: the extra's range alone would take a CUDA build of several GB.
    session.install(*nox.project.dependency_groups(PYPROJECT, "torch-tests"))
    _install(session, "torch", groups=("test",))
    session.run("pytest", "-m", "torch", "-rs", *session.posargs)


@nox.session(default=False)
def gpu(session: nox.Session) -> None:
    """Run the GPU tests (needs CuPy and a CUDA device; they skip with the reason otherwise)."""
    _install(session, "gpu", "plot", groups=("test",))
    session.run("pytest", "-m", "gpu", "-rs", *session.posargs)


@nox.session(default=False)
def mutants(session: nox.Session) -> None:
    """Score the gradient check on the mutation suite: bugs caught, false alarms, per mode."""
    _install(session, groups=("test",))
    session.run("python", "-m", "tests.meta.suite", "--seeds", "10")
    session.run("pytest", "tests/meta", "-q", "-s", *session.posargs, env={"MUTANT_SEEDS": "10"})


@nox.session(default=False)
def bench(session: nox.Session) -> None:
    """Benchmark steps, the gradient check and its scaling, memory reuse, array kinds.

    Training steps against PyTorch and JAX (``-- --gpu``: also CuPy against PyTorch CUDA and
    JAX on the GPU), the gradient check against torch gradcheck (fast mode) on its bugs and by
    network size (118k to 20M parameters), train() in fresh processes with and without
    keep_freed_memory(), and a check by array kind (NumPy, jax.numpy, CuPy where present);
    tables in reports/bench/."""
    gpu = "--gpu" in session.posargs
    _install(session, "jax", *(("gpu",) if gpu else ()), groups=("bench-gpu",) if gpu else ())
    # torch is a comparison only, never a dependency of the product: the bench group pins it.
    session.install(*nox.project.dependency_groups(PYPROJECT, "bench"))
    session.run("python", "-m", "benchmarks.steps", *session.posargs)
    session.run("python", "-m", "benchmarks.gradcheck")
    session.run("python", "-m", "benchmarks.scaling")
    session.run("python", "-m", "benchmarks.allocator")
    session.run("python", "-m", "benchmarks.kinds")


@nox.session
def lint(session: nox.Session) -> None:
    """Check style and common bugs with ruff."""
    _install(session, groups=("lint",))
    session.run("ruff", "check", ".", *session.posargs)
    session.run("ruff", "format", "--check", ".")


@nox.session
def typecheck(session: nox.Session) -> None:
    """Type-check reference_nn and oracles with mypy (strict)."""
    _install(session, groups=("typecheck",))
    session.run("mypy", *session.posargs)
