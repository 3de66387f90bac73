"""Seeded splits and training loops shared by the studies.

Keras and TensorFlow (seconds to import) are imported inside the functions that build or
train a network, so a split, or a reader that imports this module, starts without them.
"""

import numpy as np

from .errors import EmptyDatasetError, ParameterError


def set_seed(seed):
    """Seed Python, NumPy and TensorFlow, and make TensorFlow's ops deterministic, so
    the same parameters give the same model (on CPU)."""
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(int(seed))
    tf.config.experimental.enable_op_determinism()
    # a study builds several models in one kernel: TensorFlow's hint that each new one
    # retraces its functions is about speed, not about the results, and not for the reader
    tf.get_logger().setLevel("ERROR")


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


def distribution_strategy(device_type="GPU"):
    """The ``tf.distribute`` strategy for the devices present: data-parallel
    ``MirroredStrategy`` over several devices of ``device_type``, otherwise the default
    strategy (TensorFlow places the work on the one GPU, or the CPU, by itself)."""
    import tensorflow as tf

    devices = tf.config.list_logical_devices(device_type)
    if len(devices) > 1:
        return tf.distribute.MirroredStrategy([d.name for d in devices])
    return tf.distribute.get_strategy()


def _compile_and_fit(model, compile_args, fit_args, strategy=None):
    """Compile and fit ``model``; under a multi-device strategy a replica built in its scope
    is trained and its weights copied back, so callers build models as usual."""
    import keras
    import tensorflow as tf

    for name in ("epochs", "batch_size"):
        if not (isinstance(fit_args[name], (int, np.integer)) and fit_args[name] >= 1):
            raise ParameterError(f"{name} must be a whole number of at least 1, got {fit_args[name]!r}")
    strategy = strategy or distribution_strategy()
    if strategy is tf.distribute.get_strategy():
        model.compile(**{k: v() if k == "optimizer" else v for k, v in compile_args.items()})
        return model.fit(**fit_args).history
    with strategy.scope():
        replica = keras.models.clone_model(model)
        replica.set_weights(model.get_weights())
        replica.compile(**{k: v() if k == "optimizer" else v for k, v in compile_args.items()})
    history = replica.fit(**fit_args).history
    model.set_weights(replica.get_weights())
    return history


def train_classifier(model, x_train, y_train, x_val, y_val, epochs=20, batch_size=128, schedule=((20, 1e-3),),
                     patience=4, seed=0, verbose=0, class_weight=None, strategy=None):
    """Adam + sparse categorical cross-entropy on logits, a piecewise learning-rate
    schedule, and early stopping on the validation loss (best weights restored).
    Returns the Keras history as a dict of lists.

    Call ``set_seed`` before building ``model`` too: its initial weights are drawn then.
    """
    import keras

    if len(y_train) == 0 or len(y_val) == 0:
        raise EmptyDatasetError("training needs events in both the training and the validation set")
    if len(schedule) == 0:
        raise ParameterError("the learning-rate schedule needs at least one (epochs, rate) step")
    set_seed(seed)
    callbacks = [keras.callbacks.LearningRateScheduler(piecewise_schedule(schedule)),
                 keras.callbacks.EarlyStopping(patience=patience, restore_best_weights=True)]
    return _compile_and_fit(
        model, dict(optimizer=lambda: keras.optimizers.Adam(schedule[0][1]),
                    loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"]),
        dict(x=x_train, y=y_train, validation_data=(x_val, y_val), epochs=epochs, batch_size=batch_size,
             callbacks=callbacks, verbose=verbose, shuffle=True, class_weight=class_weight), strategy)


def train_regressor(model, x_train, y_train, x_val, y_val, loss, epochs=100, batch_size=256, learning_rate=1e-3,
                    patience=12, seed=0, verbose=0, strategy=None):
    """Adam on ``loss``, the learning rate halved after 5 epochs without progress, early
    stopping on the validation loss (best weights restored). Returns the history dict."""
    import keras

    if len(y_train) == 0 or len(y_val) == 0:
        raise EmptyDatasetError("training needs events in both the training and the validation set")
    set_seed(seed)
    callbacks = [keras.callbacks.ReduceLROnPlateau(patience=5, factor=0.5),
                 keras.callbacks.EarlyStopping(patience=patience, restore_best_weights=True)]
    return _compile_and_fit(
        model, dict(optimizer=lambda: keras.optimizers.Adam(learning_rate), loss=loss),
        dict(x=x_train, y=y_train, validation_data=(x_val, y_val), epochs=epochs, batch_size=batch_size,
             callbacks=callbacks, verbose=verbose, shuffle=True), strategy)


def predict_logits(model, x, batch_size=1024):
    return np.asarray(model.predict(x, batch_size=batch_size, verbose=0), dtype=np.float64)
