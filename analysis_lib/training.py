"""Seeded splits and training loops shared by the studies."""

import numpy as np

from .errors import EmptyDatasetError, ParameterError


def set_seed(seed):
    """Seed Python, NumPy and TensorFlow, and make TensorFlow's ops deterministic, so
    the same parameters give the same model (on CPU)."""
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(int(seed))
    tf.config.experimental.enable_op_determinism()


def split_indices(n, fractions=(0.7, 0.3), seed=0):
    """Shuffle range(n) with ``seed`` and cut it into consecutive parts of the given fractions."""
    if n == 0:
        raise EmptyDatasetError("cannot split an empty dataset")
    if not np.isclose(sum(fractions), 1.0) or min(fractions) < 0:
        raise ParameterError(f"split fractions must be non-negative and add up to 1, got {fractions}")
    order = np.random.default_rng(seed).permutation(n)
    cuts = np.round(np.cumsum(fractions)[:-1] * n).astype(int)
    return np.split(order, cuts)


def piecewise_schedule(steps):
    """Learning rate per epoch from [(n_epochs, rate), ...]; the last rate holds afterwards."""
    rates = [rate for n_epochs, rate in steps for _ in range(int(n_epochs))]

    def schedule(epoch, current=None):
        return float(rates[min(epoch, len(rates) - 1)])

    return schedule


def train_classifier(model, x_train, y_train, x_val, y_val, epochs=20, batch_size=128, schedule=((20, 1e-3),),
                     patience=4, seed=0, verbose=0, class_weight=None):
    """Adam + sparse categorical cross-entropy on logits, a piecewise learning-rate
    schedule, and early stopping on the validation loss (best weights restored).
    Returns the Keras history as a dict of lists.

    Call ``set_seed`` before building ``model`` too: its initial weights are drawn then.
    """
    import keras

    if len(y_train) == 0 or len(y_val) == 0:
        raise EmptyDatasetError("training needs events in both the training and the validation set")
    set_seed(seed)
    model.compile(optimizer=keras.optimizers.Adam(schedule[0][1]),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    callbacks = [keras.callbacks.LearningRateScheduler(piecewise_schedule(schedule)),
                 keras.callbacks.EarlyStopping(patience=patience, restore_best_weights=True)]
    history = model.fit(x_train, y_train, validation_data=(x_val, y_val), epochs=epochs, batch_size=batch_size,
                        callbacks=callbacks, verbose=verbose, shuffle=True, class_weight=class_weight)
    return history.history


def train_regressor(model, x_train, y_train, x_val, y_val, loss, epochs=100, batch_size=256, learning_rate=1e-3,
                    patience=12, seed=0, verbose=0):
    """Adam on ``loss``, the learning rate halved after 5 epochs without progress, early
    stopping on the validation loss (best weights restored). Returns the history dict."""
    import keras

    if len(y_train) == 0 or len(y_val) == 0:
        raise EmptyDatasetError("training needs events in both the training and the validation set")
    set_seed(seed)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=loss)
    callbacks = [keras.callbacks.ReduceLROnPlateau(patience=5, factor=0.5),
                 keras.callbacks.EarlyStopping(patience=patience, restore_best_weights=True)]
    history = model.fit(x_train, y_train, validation_data=(x_val, y_val), epochs=epochs, batch_size=batch_size,
                        callbacks=callbacks, verbose=verbose, shuffle=True)
    return history.history


def predict_logits(model, x, batch_size=1024):
    return np.asarray(model.predict(x, batch_size=batch_size, verbose=0), dtype=np.float64)
