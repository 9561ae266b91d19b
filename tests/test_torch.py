"""torch tensors checked as written (oracles._engine.arrays): the common exercise of writing a
backward by hand in torch. The user's functions get float64 tensors on their parameters'
device, with their ``requires_grad``; the verdict and diagnosis are those of the same network
fed NumPy arrays; the caller's tensors and objects are left as found, types included.

Marked ``torch``: ``nox -s torch`` runs them (torch is an optional extra, never a dependency).
"""

from __future__ import annotations

import numpy as np
import pytest

from oracles import (
    assert_gradients,
    attributes,
    check_backward,
    check_gradients,
    diagnose,
    gradients_from_update,
)

pytestmark = pytest.mark.torch

M = 8


def _problem(seed=0, n=(5, 4, 3)):
    """Examples as rows, as torch code holds them: X (m, n_in), W (n_in, n_out), b (n_out,)."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((M, n[0]))
    Y = np.eye(n[2])[rng.integers(0, n[2], M)]
    params = {
        "W1": rng.standard_normal((n[0], n[1])),
        "b1": rng.standard_normal(n[1]) * 0.1,
        "W2": rng.standard_normal((n[1], n[2])),
        "b2": rng.standard_normal(n[2]) * 0.1,
    }
    return params, X, Y


def _network(torch, X, Y, slip=None):
    """loss(p) and backward(p) of a ReLU net with softmax cross-entropy, written in torch with a
    hand-written backward; ``slip``: "bias_sum" sums db1 over units too, "mask" drops ReLU'."""

    def forward(p):
        Z1 = X @ p["W1"] + p["b1"]
        A1 = torch.relu(Z1)
        return Z1, A1, A1 @ p["W2"] + p["b2"]

    def loss(p):
        _, _, Z2 = forward(p)
        return -(Y * torch.log_softmax(Z2, dim=1)).sum() / X.shape[0]

    def backward(p):
        Z1, A1, Z2 = forward(p)
        dZ2 = (torch.softmax(Z2, dim=1) - Y) / X.shape[0]
        dA1 = dZ2 @ p["W2"].T
        dZ1 = dA1 if slip == "mask" else dA1 * (Z1 > 0)
        db1 = dZ1.sum() if slip == "bias_sum" else dZ1.sum(dim=0)
        return {"W1": X.T @ dZ1, "b1": db1, "W2": A1.T @ dZ2, "b2": dZ2.sum(dim=0)}

    return loss, backward


def _twin(torch, X, Y, slip=None):
    """The same network, fed NumPy arrays by glue written by hand."""
    loss, backward = _network(torch, torch.from_numpy(X), torch.from_numpy(Y), slip)

    def tensors(p):
        return {k: torch.from_numpy(np.array(v)) for k, v in p.items()}

    return (lambda p: float(loss(tensors(p))),
            lambda p: {k: v.numpy() for k, v in backward(tensors(p)).items()})  # fmt: skip


@pytest.fixture
def torch():
    return pytest.importorskip("torch", reason="needs torch: nox -s torch")


def _as_tensors(torch, params, **options):
    return {k: torch.tensor(v, **options) for k, v in params.items()}


@pytest.mark.parametrize("slip", [None, "bias_sum", "mask"])
def test_a_hand_written_torch_backward_checks_as_written_as_its_numpy_twin(torch, slip) -> None:
    params, X, Y = _problem()
    tensors = _as_tensors(torch, params, dtype=torch.float32)
    kept = {k: v.clone() for k, v in tensors.items()}
    loss, backward = _network(torch, torch.from_numpy(X), torch.from_numpy(Y), slip)
    seen = set()

    def counted_loss(p):
        seen.update((type(v), v.dtype, v.device.type) for v in p.values())
        return loss(p)

    report = check_gradients(counted_loss, backward, tensors)
    assert bool(report) == (slip is None), report.summary()
    assert report.arrays == "torch"
    assert seen == {(torch.Tensor, torch.float64, "cpu")}  # float64 copies of their own kind
    twin = diagnose(*_twin(torch, X, Y, slip), params, examples=M)
    found = diagnose(loss, backward, tensors, examples=M)
    assert [(d.kind, d.parameters) for d in found.defects] == [
        (d.kind, d.parameters) for d in twin.defects
    ]
    if slip == "bias_sum":
        assert [(d.kind, d.parameters) for d in found.defects] == [("bias_sum_over_units", ("b1",))]
    # the caller's tensors: the same objects, float32, unchanged
    assert all(v.dtype == torch.float32 and torch.equal(v, kept[k]) for k, v in tensors.items())


def test_every_read_back_is_counted(torch) -> None:
    params, X, Y = _problem()
    loss, backward = _network(torch, torch.from_numpy(X), torch.from_numpy(Y))
    calls = {"loss": 0, "grad": 0}

    def counted(fn, key):
        def call(p):
            calls[key] += 1
            return fn(p)

        return call

    report = check_gradients(counted(loss, "loss"), counted(backward, "grad"),
                             _as_tensors(torch, params))  # fmt: skip
    # one read per parameter at the start, per loss value, per gradient entry read
    assert report.transfers == 4 + calls["loss"] + 4 * calls["grad"]
    assert "torch arrays" in report.summary()


def test_parameters_that_require_grad_run_code_that_calls_backward_itself(torch) -> None:
    """A loss and gradients computed from tensors that require grad (the exercise that checks a
    manual backward against autograd) are read detached; autograd's own gradient passes too."""
    params, X, Y = _problem(1)
    tensors = _as_tensors(torch, params, requires_grad=True)
    loss, backward = _network(torch, torch.from_numpy(X), torch.from_numpy(Y))
    assert_gradients(loss, backward, tensors)

    def autograd(p):
        return dict(zip(p, torch.autograd.grad(loss(p), list(p.values())), strict=True))

    assert_gradients(loss, autograd, tensors)
    assert all(v.requires_grad and v.grad is None for v in tensors.values())


def test_gradients_may_come_back_as_numpy_arrays(torch) -> None:
    params, X, Y = _problem(2)
    loss, backward = _network(torch, torch.from_numpy(X), torch.from_numpy(Y))
    report = check_gradients(loss, lambda p: {k: v.numpy() for k, v in backward(p).items()},
                             _as_tensors(torch, params))  # fmt: skip
    assert report and report.arrays == "torch"


def test_mixed_kinds_and_bfloat16_gradients_are_refused_by_name(torch) -> None:
    params, X, Y = _problem()
    loss, backward = _network(torch, torch.from_numpy(X), torch.from_numpy(Y))
    mixed = {**_as_tensors(torch, params), "b2": params["b2"]}
    with pytest.raises(ValueError, match=r"params mix array kinds \(torch: W1, b1, W2; numpy: b2"):
        check_gradients(loss, backward, mixed)
    with pytest.raises(TypeError, match=r"torch\.bfloat16"):
        check_gradients(loss, lambda p: {k: v.bfloat16() for k, v in backward(p).items()},
                        _as_tensors(torch, params))  # fmt: skip


class _TorchNet:
    """A class holding its parameters as float32 tensors (one a Parameter that requires grad),
    with a hand-written backward and an in-place SGD step, as a from-scratch torch tutorial has
    it."""

    def __init__(self, torch, params, slip=None):
        self.torch, self.slip = torch, slip
        self.W1 = torch.nn.Parameter(torch.tensor(params["W1"], dtype=torch.float32))
        self.b1 = torch.tensor(params["b1"], dtype=torch.float32)
        self.W2 = torch.tensor(params["W2"], dtype=torch.float32)
        self.b2 = torch.zeros(3)

    def forward(self, X):
        self.X, self.Z1 = X, X @ self.W1 + self.b1
        self.A1 = self.torch.relu(self.Z1)
        return self.A1 @ self.W2 + self.b2

    def loss(self, X, Y):
        return -(Y * self.torch.log_softmax(self.forward(X), dim=1)).sum() / X.shape[0]

    def step(self, X, Y, lr):
        out = self.forward(X)
        dZ2 = (self.torch.softmax(out, dim=1) - Y) / X.shape[0]
        dZ1 = (dZ2 @ self.W2.T) * (self.Z1 > 0)
        with self.torch.no_grad():
            self.W2 -= lr * self.A1.T @ dZ2
            self.b2 -= lr * dZ2.sum(dim=0)
            self.W1 -= lr * X.T @ dZ1
            self.b1 -= lr * (dZ1.sum() if self.slip else dZ1.sum(dim=0))


@pytest.mark.parametrize("slip", [None, "bias_sum"])
def test_a_torch_class_that_updates_itself_checks_in_three_lines_and_is_left_as_found(
    torch, slip
) -> None:
    params, X, Y = _problem(3)
    X, Y = torch.tensor(X, dtype=torch.float32), torch.tensor(Y, dtype=torch.float32)
    net = _TorchNet(torch, params, slip)
    found = {name: getattr(net, name) for name in ("W1", "b1", "W2", "b2")}
    values = {name: torch.as_tensor(v).clone() for name, v in found.items()}

    attrs = attributes(net, ["W1", "b1", "W2", "b2"])
    grad = gradients_from_update(attrs.update(lambda: net.step(X, Y, 1.0)), lr=1.0)
    report = check_gradients(attrs(lambda: net.loss(X, Y)), grad, attrs)

    assert bool(report) == (slip is None), report.summary()
    assert report.arrays == "torch"
    for name, original in found.items():  # the same objects, types and values
        assert getattr(net, name) is original
        assert torch.equal(torch.as_tensor(original), values[name])
    assert type(net.W1) is torch.nn.Parameter and net.W1.requires_grad
    if slip:
        found = diagnose(attrs(lambda: net.loss(X, Y)), grad, attrs)
        assert [(d.kind, d.parameters) for d in found.defects] == [("bias_sum_over_units",
                                                                    ("b1",))]  # fmt: skip


def test_a_torch_layer_backward_checks_on_its_own(torch) -> None:
    rng = np.random.default_rng(4)
    inputs = {
        "x": torch.tensor(rng.standard_normal((3, 4))),
        "w": torch.tensor(rng.standard_normal((4, 5))),
        "b": torch.tensor(rng.standard_normal(5)),
    }

    def affine_forward(x, w, b):
        return x @ w + b, (x, w)

    def affine_backward(dout, cache, slip=False):
        x, w = cache
        return dout @ w.T, x.T @ dout, dout.mean(dim=0) if slip else dout.sum(dim=0)

    assert check_backward(affine_forward, affine_backward, inputs)
    report = check_backward(affine_forward, lambda d, c: affine_backward(d, c, True), inputs)
    assert not report and report.arrays == "torch"
    assert [p.name for p in report.parameters if not p.passed] == ["b"]


def test_torch_tensors_on_cuda_are_checked_on_their_device(torch) -> None:
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device for torch here")
    params, X, Y = _problem()
    loss, backward = _network(torch, torch.from_numpy(X).cuda(), torch.from_numpy(Y).cuda())
    devices = set()

    def on_device(p):
        devices.update(v.device.type for v in p.values())
        return loss(p)

    report = check_gradients(on_device, backward, _as_tensors(torch, params, device="cuda"))
    assert report and report.arrays == "torch" and devices == {"cuda"}


def test_a_torch_softmax_is_checked_as_written(torch) -> None:
    pytest.importorskip("hypothesis", reason="check_primitive needs hypothesis")
    from oracles import check_primitive

    kinds = set()

    def softmax(Z, shifted=True):
        kinds.add(type(Z))
        E = torch.exp(Z - Z.max(dim=1, keepdim=True).values if shifted else Z)
        return E / E.sum(dim=1, keepdim=True)

    assert check_primitive(softmax, "softmax", axis=1, arrays="torch")
    report = check_primitive(lambda Z: softmax(Z, shifted=False), "softmax", axis=1,
                             arrays="torch")  # fmt: skip
    assert not report and kinds == {torch.Tensor}


def test_a_case_of_torch_tensors_is_audited_as_its_numpy_twin(torch) -> None:
    from oracles import Case, audit_case

    params, X, Y = _problem(5)
    for slip in (None, "mask"):
        loss, backward = _network(torch, torch.from_numpy(X), torch.from_numpy(Y), slip)
        audit = audit_case(Case(loss, backward, _as_tensors(torch, params)))
        twin = audit_case(Case(*_twin(torch, X, Y, slip), params))
        assert audit.verdicts == twin.verdicts and audit.arrays == "torch"
        assert bool(audit) == (slip is None)


@pytest.mark.parametrize("slip", [None, "bias_sum"])
def test_float32_code_that_refuses_float64_copies_is_checked_in_its_own_dtype(torch, slip) -> None:
    """torch will not multiply its float32 data by float64 copies: the copies then take the
    parameters' own dtype, the report says why, and the loss is judged at float32's precision
    (a right gradient passes, a slip still fails)."""
    params, X, Y = _problem(6)
    loss, backward = _network(torch, torch.tensor(X, dtype=torch.float32),
                              torch.tensor(Y, dtype=torch.float32), slip)  # fmt: skip
    with pytest.warns(UserWarning, match="came back in float32"):
        report = check_gradients(loss, backward, _as_tensors(torch, params, dtype=torch.float32))
    assert bool(report) == (slip is None), report.summary()
    assert "copies in their own dtypes (float32: torch refused float64" in report.summary()
    assert "float32 precision" in report.summary()
    with pytest.raises(RuntimeError, match="same dtype"):  # float64 parameters: nothing to undo
        check_gradients(loss, backward, _as_tensors(torch, params))


class _Linear:
    """A layer object in torch's default float32, storing its gradients as dW, db."""

    def __init__(self, torch, n_in, n_out, slip=False):
        generator = torch.Generator().manual_seed(n_in)
        self.W = torch.randn(n_in, n_out, generator=generator)
        self.b, self.slip = torch.zeros(n_out), slip

    def forward(self, x):
        self.x = x
        return x @ self.W + self.b

    def backward(self, dout):
        self.dW, self.db = self.x.T @ dout, dout.mean(dim=0) if self.slip else dout.sum(dim=0)
        return dout @ self.W.T


class _ReLU:
    def forward(self, x):
        self.mask = x > 0
        return x * self.mask

    def backward(self, dout):
        return dout * self.mask


def test_float32_torch_layer_objects_name_the_first_wrong_layer(torch) -> None:
    from oracles import assert_backward

    x = torch.randn(6, 4, generator=torch.Generator().manual_seed(1))
    right = [_Linear(torch, 4, 3), _ReLU(), _Linear(torch, 3, 2)]
    with pytest.warns(UserWarning, match="came back in float32"):
        assert check_backward(right, None, {"x": x}, params=["W", "b"])
    slipped = [_Linear(torch, 4, 3), _ReLU(), _Linear(torch, 3, 2, slip=True)]
    weights = slipped[2].W
    with pytest.warns(UserWarning, match="float32"), pytest.raises(AssertionError) as raised:
        assert_backward(slipped, None, {"x": x}, params=["W", "b"])
    assert "layer 3 of 3 (_Linear) is the first whose backward is wrong" in str(raised.value)
    assert "[mean_over_axis] b" in str(raised.value)
    assert slipped[2].W is weights and weights.dtype == torch.float32


def test_assert_backward_on_tensors_that_require_grad_names_the_slip(torch) -> None:
    """The diagnosis runs on the host as the check does: an embedding written in torch, its
    table requiring grad, overwriting repeated words, is named."""
    from oracles import assert_backward

    def embed_forward(idx, C):
        return C[idx]

    def embed_backward(dout, idx, C, slip):
        dC = torch.zeros_like(C)
        if slip:
            dC[idx] = dout  # repeated indices overwrite
        else:
            dC.index_add_(0, idx.reshape(-1), dout.reshape(-1, C.shape[1]))
        return dC

    idx = torch.tensor([[0, 2, 2], [1, 0, 3]])
    C = torch.randn(
        5, 4, generator=torch.Generator().manual_seed(2), dtype=torch.float64, requires_grad=True
    )
    inputs = {"idx": idx, "C": C}

    def backward(slip):
        def run(dout):
            with torch.no_grad():
                return embed_backward(dout, idx, C, slip)

        return run

    assert check_backward(embed_forward, backward(False), inputs)
    with pytest.raises(AssertionError, match=r"\[repeated_indices\] C: wrong only at rows"):
        assert_backward(embed_forward, backward(True), inputs)


@pytest.mark.parametrize("slip", [None, "no_mean"])
def test_a_float32_update_in_place_is_read_and_names_a_missing_division_by_m(torch, slip):
    """An SGD step on float32 data, as torch code writes it: the update runs in the
    parameters' own dtype, and a missing 1/m (a factor of 24.0005 at float32's precision) is
    named as the batch size."""
    rng = np.random.default_rng(7)
    X = torch.tensor(rng.standard_normal((24, 5)), dtype=torch.float32)
    Y = torch.tensor(rng.standard_normal((24, 2)), dtype=torch.float32)
    params = {
        name: torch.tensor(rng.standard_normal(shape) * 0.5, dtype=torch.float32)
        for name, shape in (("w1", (5, 6)), ("w2", (6, 2)))
    }

    def loss(p):
        return ((X @ p["w1"]).clamp(min=0) @ p["w2"] - Y).pow(2).sum() / X.shape[0]

    def sgd_step(p, lr=1.0):
        h = X @ p["w1"]
        a = h.clamp(min=0)
        d = 2.0 * (a @ p["w2"] - Y) / (1 if slip else X.shape[0])
        grad_w2, grad_a = a.T @ d, d @ p["w2"].T
        p["w1"] -= lr * X.T @ (grad_a * (h > 0))
        p["w2"] -= lr * grad_w2

    found = diagnose(loss, gradients_from_update(sgd_step, lr=1.0), params, examples=24)
    if slip is None:
        assert found.correct, str(found)
    else:
        assert [(d.kind, d.parameters) for d in found.defects] == [("scale", ("w1", "w2"))]
        assert "24 times the right gradient: the batch size m = 24" in str(found)


def test_dtype_clashes_in_torch_s_other_words_fall_back_too(torch) -> None:
    """A float32 nn.Conv1d with a bias ('Input type (double) and bias type (float)') and an
    nn.RNN (a ValueError) refuse float64 copies as a matmul does: checked in their own dtype."""
    torch.manual_seed(0)
    conv, rnn = torch.nn.Conv1d(1, 2, 3), torch.nn.RNN(6, 3, batch_first=True)
    X, Xs = torch.randn(4, 1, 6), torch.randn(2, 4, 6)
    for layer, forward in ((conv, lambda s: conv(X * s)), (rnn, lambda s: rnn(Xs * s)[0])):
        for p in layer.parameters():
            p.requires_grad_(False)

        def grad(p, forward=forward):
            s = p["s"].detach().clone().requires_grad_(True)
            with torch.enable_grad():
                forward(s).pow(2).sum().backward()
            return {"s": s.grad}

        with pytest.warns(UserWarning, match="float32"):
            report = check_gradients(lambda p, f=forward: f(p["s"]).pow(2).sum(), grad,
                                     {"s": torch.randn(6)})  # fmt: skip
        assert report and "copies in their own dtypes" in report.summary()


def test_copies_keep_each_tensor_s_requires_grad_and_dout_requires_none(torch) -> None:
    seen = {}

    def loss(p):
        seen.update({k: v.requires_grad for k, v in p.items()})
        return (p["W"] * p["b"]).sum()

    params = {"W": torch.ones(3, dtype=torch.float64, requires_grad=True),
              "b": torch.ones(3, dtype=torch.float64)}  # fmt: skip
    assert check_gradients(loss, lambda p: {"W": p["b"].detach(), "b": p["W"].detach()}, params)
    assert seen == {"W": True, "b": False}

    def relu_backward(dout, cache):
        dout[cache <= 0] = 0  # in place, as many backwards write into their upstream gradient
        return dout

    x = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
    assert check_backward(lambda x: (x.clamp(min=0), x.detach()), relu_backward, {"x": x})


def test_an_inference_tensor_attribute_is_replaced_for_the_check_and_put_back(torch) -> None:
    class Net:
        def __init__(self):
            with torch.inference_mode():
                self.W = torch.ones(2, 3, dtype=torch.float64)

    net = Net()
    W = net.W
    X = torch.arange(6.0, dtype=torch.float64).reshape(3, 2)
    attrs = attributes(net, ["W"])
    assert check_gradients(
        attrs(lambda: (net.W @ X).sum()), attrs(lambda: {"W": X.sum(1).expand(2, 3)}), attrs
    )
    assert net.W is W and W.is_inference()
