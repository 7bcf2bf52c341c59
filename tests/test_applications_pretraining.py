"""Unsupervised pretraining then few-label fine-tuning: subsets, classifier copies, the comparison."""

from __future__ import annotations

import numpy as np
import pytest

from keras_ae.applications.pretraining import (
    COMPARISON_KINDS,
    PRETRAINING_KINDS,
    build_classifier,
    build_pretraining_ae,
    classification_error,
    compare_pretraining,
    fine_tune,
    greedy_layerwise_pretrain,
    labelled_split,
    labelled_subset,
    layerwise_daes,
    select_by_validation,
    stack_encoders,
)
from keras_ae.errors import InputValidationError, UnknownNameError


def test_labelled_subset():
    y = np.repeat(np.arange(3), [5, 7, 9])
    idx = labelled_subset(y, 4, seed=1)
    assert np.array_equal(np.bincount(y[idx]), [4, 4, 4]) and len(np.unique(idx)) == 12
    assert not np.array_equal(idx, labelled_subset(y, 4, seed=2))
    with pytest.raises(InputValidationError, match="Class 0 has only 5"):
        labelled_subset(y, 6)


@pytest.mark.slow
def test_classifier_copies_the_encoder(digits):
    (x_train, y_train), (x_test, _) = digits
    ae = build_pretraining_ae("plain", (8, 8, 1), hidden=(32,), code_dim=16)
    before = [w.copy() for w in ae.encoder.get_weights()]
    clf = build_classifier(ae.encoder, 10)
    np.testing.assert_allclose(clf.layers[-2].output.shape[-1], 16)
    for w, v in zip(before, clf.get_weights()):
        np.testing.assert_array_equal(w, v)  # starts from the encoder's weights
    clf.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    clf.fit(x_train[:64], y_train[:64], epochs=1, verbose=0)
    for w, v in zip(before, ae.encoder.get_weights()):
        np.testing.assert_array_equal(w, v)  # fine-tuning the copy leaves the auto-encoder alone
    frozen = build_classifier(ae.encoder, 10, trainable=False)
    assert len(frozen.trainable_weights) == 2  # only the softmax layer
    assert np.allclose(frozen.predict(x_test[:4], verbose=0).sum(axis=1), 1.0, atol=1e-5)


def test_kinds_and_errors():
    assert PRETRAINING_KINDS == ("plain", "denoising", "contractive")
    contractive = build_pretraining_ae("contractive", (8, 8, 1), hidden=(16,), code_dim=8)
    assert type(contractive).__name__ == "ContractiveAutoEncoder"
    with pytest.raises(UnknownNameError, match="pretraining auto-encoder"):
        build_pretraining_ae("rbm")
    ae = build_pretraining_ae("denoising", (8, 8, 1), hidden=(16,), code_dim=8)
    assert ae.corruption is not None and ae.corruption.noise == "masking"


@pytest.mark.slow
def test_pretraining_rows_with_validation_selection(digits):
    (x_train, y_train), (x_test, y_test) = digits
    rows = compare_pretraining(x_train, y_train, x_test, y_test, kinds=("denoising",), per_class=5,
                               pretrain_epochs=30, finetune_epochs=100, hidden=(64,), code_dim=32,
                               scratch_learning_rates=(1e-3, 3e-3), val_per_class=10, seed=0)
    errors = {r["method"]: r["test_error"] for r in rows}
    assert list(errors) == ["scratch (lr=0.001)", "scratch (lr=0.003)", "denoising + fine-tune",
                            "denoising + probe, fine-tune", "denoising linear probe"]
    assert all(r["labels"] == 50 for r in rows)
    # 50 labels: every row learns (chance is 0.9). Whether pretraining wins needs the
    # recipe's scale (mnist10k, 100 labels per class); this tiny run checks the plumbing.
    assert all(0.0 <= r["val_error"] < 0.4 and r["test_error"] < 0.4 for r in rows), rows
    chosen = select_by_validation(rows, "none")
    assert chosen["val_error"] == min(r["val_error"] for r in rows[:2])
    assert select_by_validation(rows, "any")["pretraining"] == "denoising"


def test_labelled_split_is_disjoint_and_balanced():
    y = np.repeat(np.arange(3), 20)
    train, val = labelled_split(y, 5, 4, seed=1)
    assert len(set(train) & set(val)) == 0
    assert np.bincount(y[train]).tolist() == [5, 5, 5] and np.bincount(y[val]).tolist() == [4, 4, 4]
    with pytest.raises(InputValidationError, match="Class 0 has only 20"):
        labelled_split(y, 15, 10)
    with pytest.raises(InputValidationError, match="val_error"):
        select_by_validation([{"pretraining": "none", "test_error": 0.1}], "none")


@pytest.mark.slow
def test_fine_tune_trains_head_then_everything(digits):
    (x_train, y_train), _ = digits
    encoder = build_pretraining_ae("plain", (8, 8, 1), hidden=(16,), code_dim=8).encoder
    before = encoder.get_weights()
    clf = fine_tune(encoder, x_train[:100], y_train[:100], 10, head_epochs=1, epochs=1, seed=0)
    assert all(layer.trainable for layer in clf.layers)
    changed = [not np.array_equal(a, b) for a, b in zip(before, clf.get_weights())]
    assert all(changed)  # the second stage moved the encoder copy too
    assert all(np.array_equal(a, b) for a, b in zip(before, encoder.get_weights()))


@pytest.mark.slow
def test_stacked_layers_each_learn_to_denoise_the_codes_below_then_fine_tune(digits):
    (x_train, y_train), (x_test, y_test) = digits
    x = x_train[:512]
    untrained = layerwise_daes(x, hidden=(48, 24), epochs=0, seed=3)  # the same seeded initialisations
    daes = layerwise_daes(x, hidden=(48, 24), epochs=20, batch_size=64, learning_rate=3e-3, seed=3)
    assert all(np.array_equal(a, b) for a, b in zip(untrained[1].get_weights(),
                                                     layerwise_daes(x, (48, 24), epochs=0, seed=3)[1].get_weights()))
    inputs = x  # layer i's own input: the clean codes of the trained layers below it
    for before, after in zip(untrained, daes):
        assert after.corruption.noise == "masking" and after.corruption.level == 0.25
        # one hidden layer, whose input is the output of the layer below
        assert after.example_shape == inputs.shape[1:] and len([la for la in after.encoder.layers if la.weights]) == 1

        def error(dae):
            return float(np.mean((dae.reconstruct(inputs) - inputs) ** 2))

        # measured: 0.11x (pixels) and 0.07x (codes) the initial squared error
        assert error(after) < 0.5 * error(before), (after.name, error(after), error(before))
        inputs = after.encode(inputs)
    encoder = stack_encoders(daes)
    dense = [layer for layer in encoder.layers if layer.weights]
    assert len(dense) == 2
    for layer, dae in zip(dense, daes):
        for w, v in zip(layer.get_weights(), dae.encoder.get_layer("code").get_weights()):
            np.testing.assert_array_equal(w, v)
    np.testing.assert_allclose(encoder.predict(x, verbose=0), inputs, rtol=1e-5, atol=1e-5)  # the composition
    clf = fine_tune(encoder, x_train[:300], y_train[:300], 10, head_epochs=15, epochs=15, learning_rate=1e-3, seed=0)
    assert classification_error(clf, x_test, y_test) < 0.4  # chance is 0.9; measured 0.23 (300 labels, 15+15 epochs)


@pytest.mark.slow
def test_greedy_pretrain_has_the_end_to_end_encoders_shape_and_unknown_kinds_fail_fast(digits):
    (x_train, y_train), (x_test, y_test) = digits
    stacked = greedy_layerwise_pretrain(x_train[:64], hidden=(16, 8), epochs=1)
    end_to_end = build_pretraining_ae("denoising", (8, 8, 1), hidden=(16,), code_dim=8).encoder
    assert [w.shape for w in stacked.get_weights()] == [w.shape for w in end_to_end.get_weights()]
    assert COMPARISON_KINDS == PRETRAINING_KINDS + ("stacked",)
    with pytest.raises(UnknownNameError, match="pretraining kind"):
        compare_pretraining(x_train, y_train, x_test, y_test, kinds=("denoising", "stacked_typo"))
    with pytest.raises(InputValidationError, match="at least one"):
        layerwise_daes(x_train[:8], hidden=())
