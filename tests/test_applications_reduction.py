"""AutoEncoderTransformer: scikit-learn API, Pipeline + GridSearchCV, errors."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from keras_ae.applications.reduction import AutoEncoderTransformer
from keras_ae.errors import InputValidationError, UnknownNameError

SMALL = dict(builder_kwargs={"hidden": (32,)}, epochs=10, batch_size=32, random_state=0)


@pytest.fixture(scope="module")
def flat_digits(digits):
    (x_train, y_train), (x_test, y_test) = digits
    return x_train.reshape(len(x_train), -1), y_train, x_test.reshape(len(x_test), -1), y_test


@pytest.mark.slow
def test_pipeline_grid_search_over_code_size(flat_digits):
    x_train, y_train, x_test, y_test = flat_digits
    pipe = Pipeline([("ae", AutoEncoderTransformer(**SMALL)), ("clf", LogisticRegression(max_iter=500))])
    search = GridSearchCV(pipe, {"ae__code_dim": [1, 12]}, cv=2)
    search.fit(x_train, y_train)
    scores = search.cv_results_["mean_test_score"]
    # One unit cannot separate ten digits; twelve can: the search must see and pick that.
    assert search.best_params_ == {"ae__code_dim": 12}
    assert scores[1] > scores[0] + 0.2
    assert search.score(x_test, y_test) > 0.8
    assert search.best_estimator_[:-1].transform(x_test).shape == (len(x_test), 12)


@pytest.mark.slow
def test_transform_inverse_transform_and_score(flat_digits):
    x_train, _, x_test, _ = flat_digits
    ae = AutoEncoderTransformer(code_dim=16, **SMALL).fit(x_train)
    assert ae.n_features_in_ == 64 and ae.loss_ == "bce"  # data in [0, 1] -> cross-entropy
    codes = ae.transform(x_test)
    assert codes.shape == (len(x_test), 16) and codes.dtype == np.float32
    x_hat = ae.inverse_transform(codes)
    assert x_hat.shape == x_test.shape
    mse = np.mean((x_hat - x_test) ** 2)
    assert mse < 0.5 * np.var(x_test, axis=0).sum() / 64  # far better than predicting the mean
    assert ae.score(x_test) == pytest.approx(-mse, rel=1e-5)
    np.testing.assert_allclose(ae.fit_transform(x_train)[:5], ae.transform(x_train[:5]), rtol=1e-4, atol=1e-5)
    assert list(ae.get_feature_names_out()[:2]) == ["code0", "code1"]


@pytest.mark.slow
def test_standardized_data_uses_squared_error(flat_digits):
    x_train, _, _, _ = flat_digits
    pipe = Pipeline([("scale", StandardScaler()), ("ae", AutoEncoderTransformer(code_dim=4, **SMALL))]).fit(x_train)
    assert pipe.named_steps["ae"].loss_ == "mse"


@pytest.mark.slow
def test_params_clone_and_builders(flat_digits):
    x_train, _, _, _ = flat_digits
    ae = AutoEncoderTransformer(code_dim=3, builder="tied", builder_kwargs={"hidden": (16,)}, epochs=2)
    assert ae.get_params()["code_dim"] == 3
    ae.set_params(code_dim=5)
    twin = clone(ae)
    assert twin.get_params() == ae.get_params() and not hasattr(twin, "model_")
    assert twin.fit(x_train[:200]).transform(x_train[:3]).shape == (3, 5)
    conv = AutoEncoderTransformer("conv", code_dim=6, input_shape=(8, 8, 1),
                                  builder_kwargs={"filters": (8,)}, epochs=1).fit(x_train[:200])
    assert conv.transform(x_train[:3]).shape == (3, 6)
    assert conv.inverse_transform(conv.transform(x_train[:3])).shape == (3, 64)


@pytest.mark.slow
def test_bad_input(flat_digits):
    x_train, _, _, _ = flat_digits
    ae = AutoEncoderTransformer(code_dim=2, epochs=1)
    with pytest.raises(NotFittedError):
        ae.transform(x_train)
    with pytest.raises(NotFittedError):
        ae.inverse_transform(np.zeros((2, 2)))
    with pytest.raises(InputValidationError, match="2-D"):
        ae.fit(x_train.reshape(-1, 8, 8))
    with pytest.raises(UnknownNameError, match="builder"):
        AutoEncoderTransformer(builder="nope").fit(x_train[:10])
    with pytest.raises(InputValidationError, match="input_shape"):
        AutoEncoderTransformer(input_shape=(7, 7, 1)).fit(x_train[:10])
    ae.fit(x_train[:100])
    with pytest.raises(InputValidationError, match="has 63 features.*fitted with 64"):
        ae.transform(x_train[:, :63])
    with pytest.raises(InputValidationError, match="codes have shape"):
        ae.inverse_transform(np.zeros((2, 3)))
    with pytest.raises(InputValidationError, match="NaN"):
        ae.transform(np.full((2, 64), np.nan))
