"""Disentanglement metrics: how well single code dimensions capture single ground-truth factors.

Each metric compares a representation (codes, one row per example) with the factors of
variation that generated the data (integer factor values, one column per factor):

| metric | paper | reads | high when |
| --- | --- | --- | --- |
| :func:`mig` | Chen et al. 2018 | codes, factors | each factor lives in one code dimension only |
| :func:`sap` | Kumar et al. 2018 | codes, factors (2 splits) | one dimension predicts a factor, no other does |
| :func:`dci` | Eastwood & Williams 2018 | codes, factors (2 splits) | code serves one factor (D), factor one code (C) |
| :func:`factor_vae_score` | Kim & Mnih 2018 | `FactorData`, encoder | fixing a factor stills one, its own, dimension |
| :func:`beta_vae_score` | Higgins et al. 2017 | `FactorData`, encoder | a linear classifier names the fixed factor |

MIG, SAP and DCI score given codes; the last two intervene on the factors, so they take a
data source that renders images from chosen factor values (:class:`FactorData`) and a
function mapping images to codes (a model's ``codes``, or ``encoder.predict``). MIG, DCI and
the intervention scores follow Locatello et al.'s disentanglement_lib (histogram
discretization with 20 bins for MIG, gradient-boosted trees for DCI, the same sample sizes),
so their numbers compare with published ones. SAP's per-dimension classifier is Kumar et
al.'s threshold classifier scored by balanced accuracy, not disentanglement_lib's linear SVM.

Every metric is invariant to a permutation of the code dimensions; MIG, SAP and DCI are low
for a rotation of a perfect code, which keeps all the information but mixes the factors.
"""

from __future__ import annotations

import warnings
from typing import Any, Callable, Protocol

import keras
import numpy as np

from keras_ae.errors import InputValidationError
from keras_ae.validation import (check_array, check_choice, check_float, check_int, check_same_length, check_seed,
                                 check_verbose, short_repr)

DCI_MODELS = ("gbt", "random_forest", "lasso")
# Images rendered and encoded per call of the data source and `representation_fn` in the
# intervention scores: 32 batches of 64 images, 32 MB of 64x64 float32 images.
_IMAGES_PER_CALL = 2048


class FactorData(Protocol):
    """A ground-truth data source the intervention metrics can render images from.

    Attributes:
        factor_sizes: Number of values of each factor (factor ``k`` takes ``0 .. size_k - 1``);
            every factor has at least two values.

    A class with these three members fits; it needs no base class (:class:`FactorGrid`,
    :class:`keras_ae.data.sprites.Sprites`).

    Example:
        >>> class Crosses:  # 4x4 images: one lit row and one lit column, the two factors
        ...     factor_sizes = (4, 4)
        ...     def sample_factors(self, n, rng):
        ...         return rng.integers(4, size=(n, 2))
        ...     def images_from_factors(self, factors):
        ...         images = np.zeros((len(factors), 4, 4), np.float32)
        ...         images[np.arange(len(factors)), factors[:, 0], :] = 1.0
        ...         images[np.arange(len(factors)), :, factors[:, 1]] = 1.0
        ...         return images
        >>> data = Crosses()
        >>> data.images_from_factors(data.sample_factors(3, np.random.default_rng(0))).shape
        (3, 4, 4)
        >>> read_back = lambda x: np.stack([x.sum(2).argmax(1), x.sum(1).argmax(1)], 1).astype(np.float32)
        >>> factor_vae_score(data, read_back, n_train=100, n_eval=50, n_variance_estimate=200)["eval_accuracy"]
        1.0
    """

    factor_sizes: tuple[int, ...]

    def sample_factors(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` random factor combinations, an int array ``(n, len(factor_sizes))``."""

    def images_from_factors(self, factors: np.ndarray) -> np.ndarray:
        """One image per row of ``factors`` (``(n, ...)``)."""


class FactorGrid:
    """A :class:`FactorData` whose "images" are the factor values themselves, as float32 rows.

    The representation that reads them back (``lambda x: x``) is perfectly disentangled: the
    reference point of every metric, and the examples' data source.

    Args:
        factor_sizes: Number of values of each factor (each at least 2).

    Example:
        >>> grid = FactorGrid((4, 5))
        >>> grid.images_from_factors(grid.sample_factors(2, np.random.default_rng(0))).shape
        (2, 2)
    """

    def __init__(self, factor_sizes: tuple[int, ...]):
        self.factor_sizes = tuple(int(size) for size in factor_sizes)

    def sample_factors(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` uniform factor combinations, int64 ``(n, len(factor_sizes))``."""
        return np.stack([rng.integers(size, size=n) for size in self.factor_sizes], axis=1)

    def images_from_factors(self, factors: np.ndarray) -> np.ndarray:
        """The factor values as float32 rows."""
        return np.asarray(factors, np.float32)


# -- shared helpers: input checks, discretization, entropy ----------------------------------

def _codes(codes: Any, name: str) -> np.ndarray:
    arr = check_array(codes, name)
    if arr.ndim != 2:
        raise InputValidationError(
            f"`{name}` has shape {arr.shape}; expected codes of shape (examples, code_dims), one row per example.")
    return arr.astype(np.float64)


def _factors(factors: Any, name: str, continuous: bool = False) -> np.ndarray:
    """Factors as ``(n, K)``: int64, or float64 where ``continuous``; a 1-D array is one factor."""
    check_array(factors, name)  # dtype, NaN, inf and emptiness
    values = np.asarray(factors)
    if values.ndim == 1:
        values = values[:, None]
    if values.ndim != 2:
        raise InputValidationError(
            f"`{name}` has shape {values.shape}; expected factors of shape (examples, n_factors) or (examples,).")
    if continuous:
        return values.astype(np.float64)
    if not (np.issubdtype(values.dtype, np.integer) or values.dtype == np.bool_):
        fractional = values != np.round(values)
        if fractional.any():
            column = int(np.argwhere(fractional)[0][1])
            raise InputValidationError(
                f"`{name}` must hold integer factor values; factor {column} has non-integer values "
                f"(e.g. {short_repr(float(values[fractional][0]))}). Discretize continuous factors first "
                "(e.g. np.digitize), or use a metric that takes continuous=True.")
    return values.astype(np.int64)


def _paired(codes: Any, factors: Any, suffix: str = "", continuous: bool = False) -> tuple[np.ndarray, np.ndarray]:
    codes = _codes(codes, f"codes{suffix}")
    factors = _factors(factors, f"factors{suffix}", continuous)
    check_same_length({f"codes{suffix}": codes, f"factors{suffix}": factors})
    return codes, factors


def _check_varies(factors: np.ndarray, name: str) -> None:
    for k in range(factors.shape[1]):
        if np.all(factors[:, k] == factors[0, k]):
            raise InputValidationError(
                f"Factor {k} of `{name}` takes a single value ({short_repr(factors[0, k].item())}); a metric cannot "
                "tell how well codes capture it. Leave constant factors out.")


def _check_split(train: tuple[np.ndarray, np.ndarray], test: tuple[np.ndarray, np.ndarray]) -> None:
    if train[0].shape[1] != test[0].shape[1] or train[1].shape[1] != test[1].shape[1]:
        raise InputValidationError(
            f"The train and test splits differ in width: codes {train[0].shape[1]} vs {test[0].shape[1]} dimensions, "
            f"factors {train[1].shape[1]} vs {test[1].shape[1]}; they must come from the same representation.")


def _min_dims(codes: np.ndarray, metric: str) -> None:
    if codes.shape[1] < 2:
        raise InputValidationError(
            f"{metric} compares the two most informative code dimensions, but the codes have {codes.shape[1]}; "
            "pass at least two.")


def discretize_codes(codes: Any, bins: int = 20) -> np.ndarray:
    """Each code dimension cut into ``bins`` equal-width bins over its own range (disentanglement_lib's rule).

    Args:
        codes: Codes ``(n, code_dims)``.
        bins: Number of bins, ``>= 2``.

    Returns:
        int64 ``(n, code_dims)`` of bin ids in ``1 .. bins``.

    Example:
        >>> discretize_codes(np.array([[0.0], [0.4], [0.6], [1.0]]), bins=2)[:, 0].tolist()
        [1, 1, 2, 2]
    """
    codes = _codes(codes, "codes")
    bins = check_int(bins, "bins", minimum=2)
    out = np.empty(codes.shape, np.int64)
    for j in range(codes.shape[1]):
        edges = np.histogram_bin_edges(codes[:, j], bins)
        out[:, j] = np.digitize(codes[:, j], edges[:-1])
    return out


def _entropy(weights: np.ndarray, axis: int = 0, base: float | None = None) -> np.ndarray:
    """Entropy of the distributions ``weights / weights.sum(axis)`` (nats, or in ``base``).

    An all-zero distribution counts as uniform, a one-outcome one as certain.
    """
    weights = np.moveaxis(np.asarray(weights, np.float64), axis, 0)
    if weights.shape[0] == 1:
        return np.zeros(weights.shape[1:])
    weights = np.where(weights.sum(axis=0, keepdims=True) > 0, weights, 1.0)
    p = weights / weights.sum(axis=0, keepdims=True)
    h = -np.sum(p * np.log(np.where(p > 0, p, 1.0)), axis=0)  # 0 log 0 = 0
    return h / np.log(base) if base is not None else h


def _label_entropy(labels: np.ndarray) -> float:
    """Entropy (nats) of the empirical distribution of integer ``labels``."""
    return float(_entropy(np.unique(labels, return_counts=True)[1]))


def _random_state(seed: int | None) -> int | None:
    return None if seed is None else seed % 2**32  # scikit-learn takes [0, 2**32 - 1]


# -- MIG ------------------------------------------------------------------------------------

def mutual_information_matrix(codes: Any, factors: Any, bins: int = 20) -> np.ndarray:
    """Mutual information (nats) between each discretized code dimension and each factor.

    Args:
        codes: Codes ``(n, code_dims)``, finite.
        factors: Integer factor values ``(n, n_factors)`` (or ``(n,)`` for one factor).
        bins: Equal-width histogram bins per code dimension (:func:`discretize_codes`).

    Returns:
        float64 ``(code_dims, n_factors)``.

    Example:
        >>> codes = np.array([[0.0], [0.0], [1.0], [1.0]])
        >>> mi = mutual_information_matrix(codes, np.array([0, 0, 1, 1]), bins=2)
        >>> bool(np.isclose(mi[0, 0], np.log(2)))
        True
    """
    from sklearn.metrics import mutual_info_score

    codes, factors = _paired(codes, factors)
    binned = discretize_codes(codes, bins)
    return np.array([[mutual_info_score(factors[:, k], binned[:, j]) for k in range(factors.shape[1])]
                     for j in range(binned.shape[1])])


def mig(codes: Any, factors: Any, bins: int = 20) -> dict:
    """Mutual information gap (Chen et al. 2018): per factor, the gap between its two most informative codes.

    ``MIG_k = (I(z_a; v_k) - I(z_b; v_k)) / H(v_k)`` where ``z_a`` and ``z_b`` are the code
    dimensions sharing the most and second-most information with factor ``v_k``.

    Args:
        codes: Codes ``(n, code_dims)`` with ``code_dims >= 2``.
        factors: Integer factor values ``(n, n_factors)``; each factor takes at least two values.
        bins: Equal-width histogram bins per code dimension.

    Returns:
        ``{"mig": mean over factors, "per_factor": float64 (n_factors,), "mutual_information":
        (code_dims, n_factors) nats}``; ``mig`` is in [0, 1].

    Example:
        >>> rng = np.random.default_rng(0)
        >>> factors = rng.integers(0, 5, size=(2000, 2))
        >>> round(mig(factors, factors)["mig"], 2)  # the factors themselves: disentangled
        1.0
        >>> mixed = factors @ np.array([[1.0, 1.0], [1.0, -1.0]])  # each code mixes both factors
        >>> round(mig(mixed, factors)["mig"], 2)
        0.02
    """
    codes, factors = _paired(codes, factors)
    _min_dims(codes, "MIG")
    _check_varies(factors, "factors")
    mi = mutual_information_matrix(codes, factors, bins)
    entropies = np.array([_label_entropy(factors[:, k]) for k in range(factors.shape[1])])
    top = np.sort(mi, axis=0)[::-1]
    per_factor = (top[0] - top[1]) / entropies
    return {"mig": float(per_factor.mean()), "per_factor": per_factor, "mutual_information": mi}


# -- SAP ------------------------------------------------------------------------------------

def _threshold_accuracy(x_train, y_train, x_test, y_test) -> float:
    """Balanced test accuracy of a classifier cutting one code dimension into one interval per class."""
    from sklearn.metrics import balanced_accuracy_score
    from sklearn.tree import DecisionTreeClassifier

    # With one feature, a tree with K leaves is K - 1 thresholds: the threshold classifier of
    # Kumar et al. for two classes, intervals for more.
    tree = DecisionTreeClassifier(max_leaf_nodes=max(2, len(np.unique(y_train))), random_state=0)
    tree.fit(x_train[:, None], y_train)
    with warnings.catch_warnings():  # classes predicted but absent from the test split
        warnings.simplefilter("ignore", UserWarning)
        return float(balanced_accuracy_score(y_test, tree.predict(x_test[:, None])))


def _linear_r2(x_train, y_train, x_test, y_test) -> float:
    """Test R^2 of a straight line fitted on the training split, 0 when it predicts worse than the mean."""
    x_var = x_train.var()
    if x_var == 0:
        return 0.0
    slope = np.mean((x_train - x_train.mean()) * (y_train - y_train.mean())) / x_var
    prediction = y_train.mean() + slope * (x_test - x_train.mean())
    total = np.sum((y_test - y_test.mean()) ** 2)
    return float(max(0.0, 1.0 - np.sum((y_test - prediction) ** 2) / total))


def sap(codes_train: Any, factors_train: Any, codes_test: Any, factors_test: Any, continuous: bool = False) -> dict:
    """Separated attribute predictability (Kumar et al. 2018): how much better the best code predicts a factor.

    For each code dimension ``d`` and factor ``k`` a predictor sees that dimension alone:
    for integer factors a threshold classifier (one interval per factor value), scored by
    balanced accuracy on the test split; for continuous factors a straight line, scored by
    its test R^2. Per factor, SAP is the score of the best dimension minus the second best.
    A dimension unrelated to a factor with ``V`` equally likely values scores the chance
    accuracy ``1 / V``, so perfect codes of independent discrete factors reach about
    ``1 - 1 / V`` (0.75 for four values), not 1.

    Args:
        codes_train: Codes ``(n, code_dims)`` the predictors are fitted on, ``code_dims >= 2``.
        factors_train: Their factor values ``(n, n_factors)``.
        codes_test: Codes ``(m, code_dims)`` the predictors are scored on.
        factors_test: Their factor values ``(m, n_factors)``.
        continuous: Whether the factors are continuous (R^2 scores) rather than integer classes.

    Returns:
        ``{"sap": mean over factors, "per_factor": (n_factors,), "score_matrix": (code_dims, n_factors)}``.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> factors = rng.integers(0, 4, size=(600, 2))
        >>> result = sap(factors[:400], factors[:400], factors[400:], factors[400:])
        >>> round(result["sap"], 2), result["score_matrix"].round(2).tolist()
        (0.75, [[1.0, 0.25], [0.26, 1.0]])
    """
    continuous = bool(continuous)
    train = _paired(codes_train, factors_train, "_train", continuous)
    test = _paired(codes_test, factors_test, "_test", continuous)
    _check_split(train, test)
    _min_dims(train[0], "SAP")
    _check_varies(train[1], "factors_train")
    _check_varies(test[1], "factors_test")
    score = _linear_r2 if continuous else _threshold_accuracy
    dims, n_factors = train[0].shape[1], train[1].shape[1]
    matrix = np.array([[score(train[0][:, d], train[1][:, k], test[0][:, d], test[1][:, k])
                        for k in range(n_factors)] for d in range(dims)])
    top = np.sort(matrix, axis=0)[::-1]
    per_factor = top[0] - top[1]
    return {"sap": float(per_factor.mean()), "per_factor": per_factor, "score_matrix": matrix}


# -- DCI ------------------------------------------------------------------------------------

def _dci_model(model: str, n_estimators: int, random_state: int | None):
    if model == "gbt":
        from sklearn.ensemble import GradientBoostingClassifier

        return GradientBoostingClassifier(n_estimators=n_estimators, random_state=random_state)
    if model == "random_forest":
        from sklearn.ensemble import RandomForestClassifier

        return RandomForestClassifier(n_estimators=n_estimators, random_state=random_state)
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    # Standardized codes, so the weights' sizes compare dimensions, not their scales.
    return make_pipeline(StandardScaler(), LogisticRegression(l1_ratio=1.0, solver="saga", max_iter=1000,
                                                              random_state=random_state))


def _importances(fitted) -> np.ndarray:
    if hasattr(fitted, "feature_importances_"):
        return np.abs(fitted.feature_importances_)
    return np.abs(fitted[-1].coef_).mean(axis=0)  # a linear model: mean |weight| over its classes


def dci(codes_train: Any, factors_train: Any, codes_test: Any, factors_test: Any, model: str = "gbt",
        n_estimators: int = 100, seed: int | None = 0) -> dict:
    """Disentanglement, completeness and informativeness (Eastwood & Williams 2018).

    One classifier per factor predicts it from all the codes; its feature importances form
    the column ``R[:, k]`` of the importance matrix ``R`` (code_dims x factors). Then

    - disentanglement ``D = sum_d rho_d (1 - H_K(P_d.))``, ``P_dk = R_dk / sum_k R_dk``,
      ``rho_d = sum_k R_dk / sum R``: each code dimension matters for one factor;
    - completeness ``C = mean_k (1 - H_D(P~_.k))``, ``P~_dk = R_dk / sum_d R_dk``: each
      factor is captured by one code dimension;
    - informativeness: the classifiers' mean test accuracy.

    Entropies ``H_K`` and ``H_D`` are in base ``n_factors`` and ``code_dims``, so ``D`` and
    ``C`` lie in [0, 1].

    Args:
        codes_train: Codes ``(n, code_dims)`` the classifiers are fitted on.
        factors_train: Their integer factor values ``(n, n_factors)``.
        codes_test: Codes ``(m, code_dims)`` for the informativeness.
        factors_test: Their factor values ``(m, n_factors)``.
        model: ``"gbt"`` (gradient-boosted trees, the reference choice), ``"random_forest"``
            or ``"lasso"`` (L1 logistic regression on standardized codes, importance = mean
            absolute weight over classes).
        n_estimators: Trees per classifier (``"gbt"``, ``"random_forest"``); fewer are faster
            (each ``"gbt"`` classifier grows ``n_estimators x values`` trees).
        seed: The classifiers' random state; ``None`` draws a fresh one.

    Returns:
        ``{"disentanglement", "completeness", "informativeness", "informativeness_train",
        "importance_matrix" (code_dims, n_factors), "per_code_disentanglement" (code_dims,),
        "per_factor_completeness" (n_factors,), "per_factor_informativeness" (n_factors,)}``.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> factors = rng.integers(0, 3, size=(300, 2))
        >>> result = dci(factors[:200], factors[:200], factors[200:], factors[200:], n_estimators=10)
        >>> round(result["disentanglement"], 2), round(result["completeness"], 2), result["informativeness"]
        (1.0, 1.0, 1.0)
    """
    train = _paired(codes_train, factors_train, "_train")
    test = _paired(codes_test, factors_test, "_test")
    _check_split(train, test)
    _check_varies(train[1], "factors_train")
    check_choice(model, "model", DCI_MODELS)
    n_estimators = check_int(n_estimators, "n_estimators", minimum=1)
    random_state = _random_state(check_seed(seed))
    dims, n_factors = train[0].shape[1], train[1].shape[1]
    importance = np.zeros((dims, n_factors))
    accuracy_train, accuracy_test = np.zeros(n_factors), np.zeros(n_factors)
    for k in range(n_factors):
        fitted = _dci_model(model, n_estimators, random_state).fit(train[0], train[1][:, k])
        importance[:, k] = _importances(fitted)
        accuracy_train[k] = np.mean(fitted.predict(train[0]) == train[1][:, k])
        accuracy_test[k] = np.mean(fitted.predict(test[0]) == test[1][:, k])
    per_code = 1.0 - _entropy(importance, axis=1, base=n_factors)
    total = importance.sum()
    rho = importance.sum(axis=1) / total if total > 0 else np.full(dims, 1.0 / dims)
    per_factor = 1.0 - _entropy(importance, axis=0, base=dims)
    return {
        "disentanglement": float(np.sum(rho * per_code)),
        "completeness": float(per_factor.mean()),
        "informativeness": float(accuracy_test.mean()),
        "informativeness_train": float(accuracy_train.mean()),
        "importance_matrix": importance,
        "per_code_disentanglement": per_code,
        "per_factor_completeness": per_factor,
        "per_factor_informativeness": accuracy_test,
    }


# -- intervention scores: FactorVAE and beta-VAE --------------------------------------------

def _factor_sizes(data: Any) -> tuple[int, ...]:
    missing = [m for m in ("factor_sizes", "sample_factors", "images_from_factors") if not hasattr(data, m)]
    if missing:
        raise InputValidationError(
            f"`data` ({type(data).__name__}) lacks {', '.join(missing)}; it needs `factor_sizes`, "
            "`sample_factors(n, rng)` and `images_from_factors(factors)` (see keras_ae.evaluation.disentanglement"
            ".FactorData).")
    try:
        sizes = tuple(data.factor_sizes)
    except TypeError:
        raise InputValidationError(
            f"`data.factor_sizes` must be a tuple of ints, got {short_repr(data.factor_sizes)}.") from None
    if not sizes:
        raise InputValidationError("`data.factor_sizes` is empty; the data needs at least one factor.")
    return tuple(check_int(s, f"data.factor_sizes[{k}]", minimum=2) for k, s in enumerate(sizes))


def _sample(data: Any, n: int, rng: np.random.Generator, sizes: tuple[int, ...]) -> np.ndarray:
    factors = np.array(data.sample_factors(n, rng), copy=True)
    if factors.shape != (n, len(sizes)):
        raise InputValidationError(
            f"`data.sample_factors({n}, rng)` returned shape {factors.shape}; expected ({n}, {len(sizes)}), "
            "one column per entry of `factor_sizes`.")
    factors = _factors(factors, "data.sample_factors(...)")
    high = np.asarray(sizes)
    if np.any((factors < 0) | (factors >= high)):
        raise InputValidationError(
            f"`data.sample_factors` returned values outside [0, size) for factor sizes {sizes}.")
    return factors


def _encode(data: Any, representation_fn: Callable, factors: np.ndarray) -> np.ndarray:
    codes = np.asarray(representation_fn(data.images_from_factors(factors)))
    if np.issubdtype(codes.dtype, np.number) and codes.ndim == 2 and not np.isfinite(codes).all():
        first = int(np.argwhere(~np.isfinite(codes))[0][0])
        raise InputValidationError(
            f"`representation_fn` returned {int((~np.isfinite(codes)).sum())} NaN or infinite code values (first "
            f"for image {first} of a batch of {len(codes)}); the encoder's weights or inputs hold non-finite values.")
    codes = _codes(codes, "representation_fn(images)")
    if len(codes) != len(factors):
        raise InputValidationError(
            f"`representation_fn` returned {len(codes)} codes for {len(factors)} images; it must return one per image.")
    return codes


def _intervention_points(data, representation_fn, n_points, sizes, rng, batch_size, paired, bar, done):
    """Codes of ``n_points`` batches in which one random factor is fixed, and the factors fixed.

    ``paired`` (beta-VAE): each point is two batches ``(batch_size, d)`` drawn independently
    but for the fixed factor, shared row by row; otherwise (FactorVAE) one batch whose rows all
    share the fixed factor's value. Batches are encoded ``_IMAGES_PER_CALL`` images at a time.
    """
    copies = 2 if paired else 1
    per_call = max(1, _IMAGES_PER_CALL // (batch_size * copies))
    fixed = rng.integers(len(sizes), size=n_points)
    codes = []
    for start in range(0, n_points, per_call):
        chunk = fixed[start:start + per_call]
        blocks = []
        for k in chunk:
            first = _sample(data, batch_size, rng, sizes)
            if paired:
                second = _sample(data, batch_size, rng, sizes)
                second[:, k] = first[:, k]
                blocks += [first, second]
            else:
                first[:, k] = first[0, k]
                blocks.append(first)
        encoded = _encode(data, representation_fn, np.concatenate(blocks))
        codes.append(encoded.reshape(len(chunk), copies, batch_size, -1))
        bar.update(done + start + len(chunk), finalize=False)
    return np.concatenate(codes), fixed


def _intervention_arguments(data, representation_fn, seed, batch_size, n_train, n_eval, verbose):
    sizes = _factor_sizes(data)
    if not callable(representation_fn):
        raise InputValidationError(
            f"`representation_fn` must be callable (images -> codes), got {short_repr(representation_fn)}.")
    return (sizes, np.random.default_rng(check_seed(seed)), check_int(batch_size, "batch_size", minimum=2),
            check_int(n_train, "n_train", minimum=1), check_int(n_eval, "n_eval", minimum=1), check_verbose(verbose))


def factor_vae_score(data: FactorData, representation_fn: Callable[[np.ndarray], np.ndarray], seed: int | None = 0,
                     batch_size: int = 64, n_train: int = 10_000, n_eval: int = 5_000,
                     n_variance_estimate: int = 10_000, prune_threshold: float = 0.05, verbose: int = 0) -> dict:
    """FactorVAE score (Kim & Mnih 2018): does fixing a factor still one code dimension, and always the same?

    Codes are divided by their standard deviation over ``n_variance_estimate`` random
    images; dimensions whose standard deviation is below ``prune_threshold`` (collapsed) are
    left out. Each point fixes one random factor over a batch of ``batch_size`` images and
    votes for the dimension of least normalized variance. A majority-vote classifier maps
    each dimension to the factor it got most votes for; the score is its accuracy on
    ``n_eval`` fresh points. The defaults are disentanglement_lib's (used by published
    scores); the whole score encodes ``batch_size * (n_train + n_eval) + n_variance_estimate``
    images.

    Args:
        data: The ground-truth data (:class:`FactorData`).
        representation_fn: Images ``(n, ...)`` -> codes ``(n, d)`` (e.g. a model's ``codes``).
        seed: Seed of the factor draws (a ``numpy.random.Generator`` given to
            ``data.sample_factors``); ``None`` draws fresh ones.
        batch_size: Images per point, ``>= 2``.
        n_train: Points the majority-vote classifier is built from.
        n_eval: Points it is scored on.
        n_variance_estimate: Images for the codes' standard deviation, ``>= 2``.
        prune_threshold: Dimensions with a smaller standard deviation are ignored.
        verbose: 1 shows a ``keras.utils.Progbar`` over the points, ending on the score.

    Returns:
        ``{"train_accuracy", "eval_accuracy", "num_active_dims", "votes" (code_dims, n_factors)}``;
        both accuracies are 0 when no dimension is active.

    Example:
        >>> score = factor_vae_score(FactorGrid((4, 5)), lambda x: x, n_train=200, n_eval=100,
        ...                          n_variance_estimate=500)
        >>> score["eval_accuracy"], score["num_active_dims"]
        (1.0, 2)
    """
    sizes, rng, batch_size, n_train, n_eval, verbose = _intervention_arguments(
        data, representation_fn, seed, batch_size, n_train, n_eval, verbose)
    n_variance_estimate = check_int(n_variance_estimate, "n_variance_estimate", minimum=2)
    prune_threshold = check_float(prune_threshold, "prune_threshold", minimum=0.0)
    parts = [_encode(data, representation_fn, _sample(data, min(_IMAGES_PER_CALL, n_variance_estimate - start), rng,
                                                      sizes))
             for start in range(0, n_variance_estimate, _IMAGES_PER_CALL)]
    global_std = np.concatenate(parts).std(axis=0, ddof=1)
    active = np.flatnonzero(global_std >= prune_threshold)
    dims = len(global_std)
    votes = np.zeros((dims, len(sizes)), np.int64)
    if not len(active):
        warnings.warn(f"No code dimension has a standard deviation of at least {prune_threshold:g}; "
                      "the FactorVAE score is 0.", UserWarning, stacklevel=2)
        return {"train_accuracy": 0.0, "eval_accuracy": 0.0, "num_active_dims": 0, "votes": votes}
    bar = keras.utils.Progbar(n_train + n_eval, verbose=verbose, unit_name="point",
                              stateful_metrics=["eval_accuracy"])

    def argmin_dims(n_points, done):
        codes, fixed = _intervention_points(data, representation_fn, n_points, sizes, rng, batch_size, False,
                                            bar, done)
        if codes.shape[-1] != dims:
            raise InputValidationError(
                f"`representation_fn` returned {codes.shape[-1]} dimensions here and {dims} before; it must be fixed.")
        local_var = codes[:, 0][..., active].var(axis=1, ddof=1)  # (points, active dims)
        return active[np.argmin(local_var / global_std[active] ** 2, axis=1)], fixed

    train_dims, train_fixed = argmin_dims(n_train, 0)
    np.add.at(votes, (train_dims, train_fixed), 1)
    classifier = np.argmax(votes, axis=1)
    eval_dims, eval_fixed = argmin_dims(n_eval, n_train)
    eval_accuracy = float(np.mean(classifier[eval_dims] == eval_fixed))
    bar.update(n_train + n_eval, values=[("eval_accuracy", eval_accuracy)], finalize=True)
    return {"train_accuracy": float(votes.max(axis=1).sum() / n_train), "eval_accuracy": eval_accuracy,
            "num_active_dims": int(len(active)), "votes": votes}


def beta_vae_score(data: FactorData, representation_fn: Callable[[np.ndarray], np.ndarray], seed: int | None = 0,
                   batch_size: int = 64, n_train: int = 10_000, n_eval: int = 5_000, verbose: int = 0) -> dict:
    """beta-VAE score (Higgins et al. 2017): can a linear classifier tell which factor two batches share?

    Each point draws two batches of ``batch_size`` images that agree, row by row, on one
    random factor and differ in the others; its feature is the mean ``|z1 - z2|`` over the
    batch. A logistic regression learns the fixed factor from ``n_train`` points; the score is
    its accuracy on ``n_eval`` fresh ones. The defaults are disentanglement_lib's; the score
    encodes ``2 * batch_size * (n_train + n_eval)`` images.

    Args:
        data: The ground-truth data (:class:`FactorData`).
        representation_fn: Images ``(n, ...)`` -> codes ``(n, d)``.
        seed: Seed of the factor draws and the classifier; ``None`` draws fresh ones.
        batch_size: Image pairs per point.
        n_train: Points the classifier is trained on.
        n_eval: Points it is scored on.
        verbose: 1 shows a ``keras.utils.Progbar`` over the points, ending on the score.

    Returns:
        ``{"train_accuracy", "eval_accuracy"}``; chance is ``1 / n_factors``.

    Example:
        >>> beta_vae_score(FactorGrid((4, 5)), lambda x: x, n_train=100, n_eval=50, batch_size=16)["eval_accuracy"]
        1.0
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    sizes, rng, batch_size, n_train, n_eval, verbose = _intervention_arguments(
        data, representation_fn, seed, batch_size, n_train, n_eval, verbose)
    bar = keras.utils.Progbar(n_train + n_eval, verbose=verbose, unit_name="point",
                              stateful_metrics=["eval_accuracy"])

    def features(n_points, done):
        codes, fixed = _intervention_points(data, representation_fn, n_points, sizes, rng, batch_size, True,
                                            bar, done)
        return np.abs(codes[:, 0] - codes[:, 1]).mean(axis=1), fixed

    x_train, y_train = features(n_train, 0)
    x_eval, y_eval = features(n_eval, n_train)
    if x_train.shape[1] != x_eval.shape[1]:
        raise InputValidationError(
            f"`representation_fn` returned {x_eval.shape[1]} dimensions here and {x_train.shape[1]} before; "
            "it must be fixed.")
    if len(np.unique(y_train)) < 2:  # a single point, or a tiny n_train drawing one factor only
        train_accuracy = eval_accuracy = float(np.mean(y_eval == y_train[0]))
    else:
        # Standardized features: the mean |z1 - z2| of noisy codes vary little around a common
        # value, which leaves L-BFGS ill-conditioned (70 iterations instead of 5 on 4-d noise).
        classifier = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000,
                                                                        random_state=int(rng.integers(2**31 - 1))))
        classifier.fit(x_train, y_train)
        train_accuracy = float(classifier.score(x_train, y_train))
        eval_accuracy = float(classifier.score(x_eval, y_eval))
    bar.update(n_train + n_eval, values=[("eval_accuracy", eval_accuracy)], finalize=True)
    return {"train_accuracy": train_accuracy, "eval_accuracy": eval_accuracy}


__all__ = [
    "DCI_MODELS", "FactorData", "FactorGrid", "beta_vae_score", "dci", "discretize_codes", "factor_vae_score", "mig",
    "mutual_information_matrix", "sap",
]
