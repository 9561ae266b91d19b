"""The registry ``NETWORKS``: one spec per source document in ../shared/seeds/."""

from __future__ import annotations

from types import MappingProxyType

from reference_nn.spec import (
    Citation,
    DataProtocol,
    Departure,
    Derivation,
    Initialisation,
    NetworkSpec,
    OpenChoice,
    PublishedResult,
    Training,
)

__all__ = ["NETWORKS"]

PIXEL_SCALE = 1 / 255

_LOSS_000 = (
    2.3020, 2.3013, 2.3007, 2.3000, 2.2993, 2.2984, 2.2974, 2.2961, 2.2944, 2.2921, 2.2889,
    2.2843, 2.2772, 2.2660, 2.2470, 2.2146, 2.1622, 2.0902, 1.9987, 1.8743, 1.7151, 1.5459,
    1.3899, 1.2518, 1.1238, 1.0097, 0.9187, 0.8507, 0.7999, 0.7605, 0.7287, 0.7019, 0.6785,
    0.6575, 0.6381, 0.6200, 0.6028, 0.5864, 0.5708, 0.5560, 0.5422, 0.5294, 0.5175, 0.5067,
    0.4967, 0.4875, 0.4790, 0.4710, 0.4637, 0.4567, 0.4502, 0.4439, 0.4380, 0.4324, 0.4270,
    0.4218, 0.4169, 0.4121, 0.4075, 0.4030, 0.3987, 0.3945, 0.3905, 0.3866, 0.3828, 0.3791,
    0.3755, 0.3720, 0.3686, 0.3653, 0.3620, 0.3589, 0.3558, 0.3529, 0.3499, 0.3471, 0.3443,
    0.3416, 0.3389, 0.3363, 0.3338, 0.3313, 0.3288, 0.3264, 0.3240, 0.3217, 0.3194, 0.3171,
    0.3148, 0.3126, 0.3104, 0.3082, 0.3061, 0.3039, 0.3018, 0.2998, 0.2977, 0.2957, 0.2937,
    0.2916,
)  # fmt: skip

_LOSS_002 = (
    2.3899, 2.3325, 2.2823, 2.2365, 2.1937, 2.1531, 2.1142, 2.0767, 2.0405, 2.0053, 1.9712,
    1.9379, 1.9055, 1.8740, 1.8432, 1.8132, 1.7839, 1.7554, 1.7276, 1.7004, 1.6739, 1.6481,
    1.6229, 1.5983, 1.5743, 1.5509, 1.5281, 1.5059, 1.4842, 1.4631, 1.4424, 1.4223, 1.4028,
    1.3837, 1.3650, 1.3469,
)  # fmt: skip

_CONFUSION_002 = (
    (944, 0, 3, 3, 1, 5, 17, 1, 6, 0),
    (0, 1103, 6, 4, 0, 2, 5, 1, 14, 0),
    (17, 15, 871, 19, 17, 0, 20, 25, 40, 8),
    (5, 1, 19, 883, 1, 36, 6, 18, 28, 13),
    (5, 6, 3, 0, 888, 2, 11, 1, 8, 58),
    (16, 12, 4, 51, 19, 713, 25, 9, 30, 13),
    (19, 3, 8, 1, 14, 19, 887, 1, 6, 0),
    (4, 27, 30, 3, 12, 1, 2, 907, 4, 38),
    (7, 13, 11, 34, 12, 29, 15, 13, 823, 17),
    (11, 10, 10, 10, 61, 12, 0, 30, 8, 857),
)

_STABLE_RELU_64 = Derivation(
    activation="relu",
    activation_derivative="relu",
    softmax="stable",
    one_hot="num_classes",
    bias_gradient="per_unit",
    loss="log_softmax",
    params_dtype="float64",
    input_dtype="float64",
)

# 003 and 004 follow one notebook: the same hold-out and the same published primitives.
_ZHANG_PUBLISHED = Derivation(
    activation="relu",
    activation_derivative="relu",
    softmax="unshifted",
    one_hot="batch_max",
    bias_gradient="sum_all",
    loss="log_probs",
    params_dtype="float64",
    input_dtype="float64",
)


def _kaggle_holdout(test_name: str) -> DataProtocol:
    """A seeded shuffle of the 42,000-row pool; the first 1,000 held out, 41,000 train."""
    return DataProtocol(
        source="kaggle_pool",
        input_scale=PIXEL_SCALE,
        shuffle=True,
        train=(1000, 42000),
        test=(0, 1000),
        test_name=test_name,
    )


_M_GLOBAL = Departure(
    "scale",
    "1/m uses a global m, the size of the whole training set; it equals the batch size in the "
    "published full-batch training, so the batch's own m is used (no numerical effect there)",
    "m is defined once from the training data and read inside the backward pass",
)

_KAGGLE_SPLIT_CHOICE = OpenChoice(
    "which 1,000 of the 42,000 Kaggle rows are held out",
    "a seeded shuffle of the pool, then the first 1,000 rows held out, the rest train",
    "the author's linked Kaggle notebook shuffles with np.random.shuffle(data) and takes "
    "data[0:1000] as dev; the notes of 004 describe the same ('Keep a 1000 digits for "
    "validation', 'Shuffle the data by np.random.shuffle(data)')",
)

_RELU_500_150 = NetworkSpec(
    name="relu_500_150",
    sizes=(784, 500, 150, 10),
    hidden_activation="relu",
    initialisation=Initialisation(weights="normal", biases="zeros", weight_scale=0.01),
    data=DataProtocol(source="keras", input_scale=PIXEL_SCALE),
    training=Training(
        learning_rate=0.1,
        iterations=1000,
        accumulation="full_batch",
        log_every=10,
        logged="loss -mean(sum(E * log(Y_hat + 1e-8))) every 10 iterations",
    ),
    reference=_STABLE_RELU_64,
    published=Derivation(
        activation="relu",
        activation_derivative="relu",
        softmax="stable",
        one_hot="num_classes",
        bias_gradient="per_unit",
        loss="log_probs_eps",
        params_dtype="float64",
        input_dtype="float64",
        test_input_scale=1.0,
    ),
    departures=(
        Departure(
            "test_input_scale",
            "the test set is fed unscaled (pixels 0..255) while training used X / 255",
            "forward_propagation(W1, b1, W2, b2, W3, b3, cp.array(x_test.reshape(10000, 784)).T)"
            " (cell 18), against X = x_train.reshape(60000, 784).T / np.max(x_train) (cell 5)",
        ),
        Departure(
            "loss",
            "the loss adds 1e-8 inside the log",
            "loss = -cp.mean(cp.sum(train_labels * cp.log(Y_hat + 1e-8), axis=0)) (cell 15)",
        ),
        _M_GLOBAL,
    ),
    published_result=PublishedResult(
        train_accuracy=None,
        test_accuracy=90.95,
        loss_log=tuple(zip(range(10, 1001, 10), _LOSS_000, strict=True)),
        loss_log_lag=2,  # the (i-1)-th forward pass follows i - 2 updates
        note="the loss printed at 'Iteration i' is that of the (i-1)-th forward pass: i is "
        "incremented before the print",
    ),
    citation=Citation(
        document="000_e6518d4dbbb334e1.txt",
        title="Neural Network from Scratch",
        author="Ananda Biswas",
        passage="an input layer with 784 neurones, two hidden layers with 500 and 150 "
        "neurones respectively, an output layer with 10 neurones ... "
        "gradient_descent(iterations=1000, eta=0.1)",
    ),
)

_SIGMOID_16_16 = NetworkSpec(
    name="sigmoid_16_16",
    sizes=(784, 16, 16, 10),
    hidden_activation="sigmoid",
    initialisation=Initialisation(weights="uniform_centered", biases="uniform_centered"),
    data=DataProtocol(
        source="kaggle_pool",
        input_scale=1.0,
        train=(0, 30000),
        test=(30000, 42000),
        test_name="test (rows 30000..41999)",
    ),
    training=Training(
        learning_rate=0.8,
        iterations=500,
        accumulation="per_example_sum",
        log_every=1,
        logged="cost per epoch (plotted, values not printed)",
    ),
    reference=Derivation(
        activation="sigmoid",
        activation_derivative="sigmoid",
        softmax="stable",
        one_hot="num_classes",
        bias_gradient="per_unit",
        loss="log_softmax",
        params_dtype="float64",
        input_dtype="float64",
    ),
    published=Derivation(
        activation="sigmoid_offset",
        activation_derivative="sigmoid_of_output",
        softmax="offset",
        one_hot="num_classes",
        bias_gradient="per_unit",
        loss="log_probs",
        params_dtype="float64",
        input_dtype="float64",
    ),
    departures=(
        Departure(
            "activation",
            "the sigmoid is computed as 1/(1+exp(-Z+1e-5)): shifted by 1e-5, and exp(-Z) "
            "overflows for Z < -709, which raw 0..255 pixels reach",
            "A1 = 1/(1+np.exp(-Z1+1e-5)) # sigmoid",
        ),
        Departure(
            "softmax",
            "the softmax is exp(Z+1e-5)/sum(exp(Z+1e-5)), with no shift by the maximum",
            "y = np.exp(Z3+1e-5); y /= sum(y) # softmax ... 'I added a small value of 10^-5 to "
            "prevent the exponent function from vanishing'",
        ),
        Departure(
            "activation_derivative",
            "the derivative is taken from the output, A*(1-A), of the shifted sigmoid",
            "dz2 = A2*(1 - A2)*da2",
        ),
        Departure(
            "loss",
            "the cross-entropy is the log of the softmax output (the post shows no code for "
            "it), not computed from the logits",
            "'The cost function is categorical cross entropy.'",
        ),
        Departure(
            "shape",
            "biases are 1-D arrays of shape (16,); kept here as (16, 1), the same arithmetic "
            "per example",
            "B1 = np.random.rand(16) - 0.5       # 16x1 matrix",
        ),
    ),
    published_result=PublishedResult(train_accuracy=87.22, test_accuracy=85.65),
    citation=Citation(
        document="001_35693fd248027a45.txt",
        title="Coding a Neural Network from scratch",
        author=None,
        passage="an input layer of 784 neurons, two hidden layers with 16 neurons each and an "
        "output layer with 10 neurons ... epoch = 500 with a learning rate alpha = 0.8",
    ),
    open_choices=(
        OpenChoice(
            "the data: Kaggle's train.csv (42,000 rows), split data[:30000] / data[30000:]",
            "the first 42,000 MNIST training images as the pool, rows 0..29999 train and "
            "30000..41999 test, no shuffle",
            "../shared/data/README.md: train.csv is not available here",
        ),
        OpenChoice(
            "the loss formula (the post names 'categorical cross entropy' but shows no code)",
            "-mean over examples of log of the softmax output at the label",
            "the gradient dz3 = y - Y_one is that of this loss",
        ),
    ),
)

_RELU_532 = NetworkSpec(
    name="relu_532",
    sizes=(784, 532, 10),
    hidden_activation="relu",
    initialisation=Initialisation(weights="he_normal", biases="zeros"),
    data=DataProtocol(source="keras", input_scale=PIXEL_SCALE),
    training=Training(
        learning_rate=0.03,
        iterations=250,
        accumulation="full_batch",
        log_every=1,
        logged="loss -mean(sum(E * log(Y_hat + 1e-8))) every epoch",
    ),
    reference=Derivation(
        activation="relu",
        activation_derivative="relu",
        softmax="stable",
        one_hot="num_classes",
        bias_gradient="per_unit",
        loss="log_softmax",
        params_dtype="float32",
        input_dtype="float32",
    ),
    published=Derivation(
        activation="relu",
        activation_derivative="relu_of_output",
        softmax="stable",
        one_hot="num_classes",
        bias_gradient="per_unit",
        loss="log_probs_eps",
        params_dtype="float64",
        input_dtype="float32",
    ),
    departures=(
        Departure(
            "params_dtype",
            "the inputs are float32 but the weights float64 (np.random.randn), so every "
            "product is computed in float64",
            "X_train = np.array(X_train, dtype=np.float32) / 255 ... weights = "
            "np.random.randn(output_dim, input_dim) * np.sqrt(2.0 / input_dim)",
        ),
        Departure(
            "activation_derivative",
            "the ReLU mask is taken on the hidden output, not the pre-activation",
            "error_hidden_layer = np.dot(weights_output_layer.T, error_output_layer) * "
            "(hidden_output > 0)",
        ),
        Departure(
            "loss",
            "the loss adds 1e-8 inside the log",
            "loss_value = -np.mean(np.sum(one_hot_targets * np.log(predictions.T + 1e-8), axis=1))",
        ),
    ),
    published_result=PublishedResult(
        train_accuracy=None,
        test_accuracy=88.76,
        loss_log=tuple(zip(range(1, 37), _LOSS_002, strict=True)),
        loss_log_lag=1,  # epoch e prints the loss of the pass before its own update
        confusion_matrix=_CONFUSION_002,
        note="the printed log stops at epoch 36 in the document; confusion matrix of the test "
        "set in confusion_matrix",
    ),
    citation=Citation(
        document="002_72b69701b6aa8f32.txt",
        title="Nural Network From Scratch",
        author=None,
        passage="input_layer_size = 784, hidden_layer_size = 532, output_layer_size = 10 ... "
        "epochs_to_run = 250, learning_rate_value = 0.03",
    ),
)

_RELU_10_10 = NetworkSpec(
    name="relu_10_10",
    sizes=(784, 10, 10),
    hidden_activation="relu",
    initialisation=Initialisation(weights="uniform_centered", biases="uniform_centered"),
    data=_kaggle_holdout("dev"),
    training=Training(
        learning_rate=0.10,
        iterations=500,
        accumulation="full_batch",
        log_every=10,
        logged="training accuracy every 10 iterations",
    ),
    reference=_STABLE_RELU_64,
    published=_ZHANG_PUBLISHED,
    departures=(
        Departure(
            "bias_gradient",
            "the bias gradients are summed over every entry of dZ, units and examples, into "
            "one scalar shared by all units",
            "db2 = 1 / m * np.sum(dZ2) ... db1 = 1 / m * np.sum(dZ1)",
        ),
        Departure(
            "softmax",
            "the softmax exponentiates without subtracting the column maximum",
            "def softmax(Z): return np.exp(Z) / sum(np.exp(Z))",
        ),
        Departure(
            "one_hot",
            "the one-hot width is labels.max() + 1, taken from the batch, not 10",
            "one_hot_Y = np.zeros((Y.size, Y.max() + 1))",
        ),
        Departure(
            "loss",
            "the cross-entropy is taken as the log of the softmax output, not from the logits",
            "J(y_hat, y) = -sum_i y_i log(y_hat_i)",
        ),
        Departure(
            "prose",
            "the prose gives dA2 = Y - A2 (the opposite sign); the code, followed here, "
            "uses dZ2 = A2 - one_hot_Y",
            "'Turns out that this derivative is simply: dA^{[2]} = Y - A^{[2]}'",
        ),
        _M_GLOBAL,
    ),
    published_result=PublishedResult(
        train_accuracy=85.0,
        test_accuracy=84.0,
        note="'an accuracy of 85% on the training data, and 84% on 1,000 examples set aside'",
    ),
    citation=Citation(
        document="003_5e86aafe8650a8e5.txt",
        title="Building a neural network from scratch (after Samson Zhang's Kaggle notebook)",
        author=None,
        passage="A hidden layer a[1] will have 10 units with ReLU activation ... "
        "gradient_descent(X_train, Y_train, 0.10, 500)",
    ),
    open_choices=(_KAGGLE_SPLIT_CHOICE,),
)

_RELU_16_16 = NetworkSpec(
    name="relu_16_16",
    sizes=(784, 16, 16, 10),
    hidden_activation="relu",
    initialisation=Initialisation(weights="uniform_centered", biases="uniform_centered"),
    data=_kaggle_holdout("validation"),
    training=Training(
        learning_rate=0.10,
        iterations=500,
        accumulation="full_batch",
        log_every=10,
        logged="nothing (handwritten notes); accuracy every 10 iterations chosen",
    ),
    reference=_STABLE_RELU_64,
    published=_ZHANG_PUBLISHED,
    departures=(
        Departure(
            "bias_gradient",
            "the bias gradient is one sum over dZ, read as np.sum over every entry (a scalar "
            "shared by all units), as in the notebook these notes follow",
            "For db_3: (1/m) sum_{i=1}^m dZ_i -> 'but we need to sum the value for each "
            "column to give one value for each sample'",
        ),
        Departure(
            "one_hot",
            "the one-hot width is y.max() + 1, taken from the labels, not 10",
            "out_col = np.zeros([y_train.size, y_max() + 1])",
        ),
        Departure(
            "softmax",
            "the softmax is written e^z / sum e^z, with no shift by the maximum",
            "a_2 = softmax(z_2); A_3 = e^z / ...",
        ),
        Departure(
            "loss",
            "the cross-entropy is taken as the log of the softmax output, not from the logits",
            "L = -(1/m) sum_{i=1}^m log A_{i3} ... cross Entropy loss",
        ),
    ),
    published_result=PublishedResult(
        train_accuracy=None, test_accuracy=None, note="the notes report no result"
    ),
    citation=Citation(
        document="004_5d1a164f1f814777.txt",
        title="Building a Neural Network from Scratch (handwritten notes, OCR)",
        author=None,
        passage="Input layer: 784 nodes, H_1 16 nodes, H_2 16 nodes, O_n 10 nodes ... "
        "Keep a 1000 digits for validation",
    ),
    open_choices=(
        OpenChoice(
            "learning rate and number of iterations (the notes give neither)",
            "alpha = 0.10, 500 iterations of full-batch gradient descent",
            "the values of 003, the notebook whose code these notes follow (same one-hot "
            "construction, same rand - 0.5 initialisation, same 1,000-row hold-out)",
        ),
        OpenChoice(
            "input scaling (the notes describe pixels 0..255 and say nothing of scaling)",
            "X / 255",
            "as in 003; unscaled inputs with rand - 0.5 weights give logits in the hundreds, "
            "which overflow the unshifted softmax",
        ),
        _KAGGLE_SPLIT_CHOICE,
    ),
)

NETWORKS: MappingProxyType[str, NetworkSpec] = MappingProxyType(
    {
        spec.name: spec
        for spec in (_RELU_500_150, _SIGMOID_16_16, _RELU_532, _RELU_10_10, _RELU_16_16)
    }
)
