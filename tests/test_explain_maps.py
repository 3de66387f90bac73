"""Gradient-based explanation maps of image classifiers (analysis_lib.explain)."""

import keras
import numpy as np

from analysis_lib import explain


def _small_cnn(seed=0):
    keras.utils.set_random_seed(seed)
    return keras.Sequential([keras.Input((16, 16, 1)), keras.layers.Conv2D(4, 3, activation="relu", name="conv"),
                             keras.layers.MaxPooling2D(2), keras.layers.Flatten(),
                             keras.layers.Dense(8, activation="relu"), keras.layers.Dense(3, activation="softmax")])


def _images(n=4, seed=1):
    return np.random.default_rng(seed).uniform(0, 1, (n, 16, 16, 1)).astype("float32")


def test_integrated_gradients_are_complete():
    model, images = _small_cnn(), _images()
    attributions, difference = explain.integrated_gradients(model, images, 1, steps=200)
    assert attributions.shape == images.shape
    assert np.allclose(attributions.sum(axis=(1, 2, 3)), difference, rtol=0.01, atol=1e-3)


def test_guided_grad_cam_is_the_product_of_its_parts():
    model, images = _small_cnn(), _images()
    guided = np.abs(explain.guided_backprop(model, images, 2)).max(axis=-1)
    cam = explain.grad_cam(model, images, 2, "conv")
    assert cam.shape == images.shape[:3]
    product = explain.guided_grad_cam(model, images, 2, "conv")
    assert np.allclose(product, guided * cam, atol=1e-6)
    assert not np.allclose(product, guided)  # the original returned the guided gradients alone


def test_grad_cam_lands_on_a_single_hot_feature_map():
    # channel 0 of "features" copies the input, channel 1 is dead; the class-1 logit reads channel 0 only
    inputs = keras.Input((12, 12, 1))
    features = keras.layers.Conv2D(2, 1, activation="relu", name="features")(inputs)
    pooled = keras.layers.GlobalAveragePooling2D()(features)
    model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(pooled))
    model.get_layer("features").set_weights([np.array([[[[1.0, 0.0]]]], "float32"), np.zeros(2, "float32")])
    model.layers[-1].set_weights([np.array([[0.0, 1.0], [0.0, 0.0]], "float32"), np.zeros(2, "float32")])
    image = np.zeros((1, 12, 12, 1), "float32")
    image[0, 3:5, 7:9] = 1.0
    cam = explain.grad_cam(model, image, 1, "features")[0]
    assert np.unravel_index(np.argmax(cam), cam.shape) in {(3, 7), (3, 8), (4, 7), (4, 8)}
    assert cam[image[0, ..., 0] == 0].max() < 0.5 * cam.max()


def test_saliency_and_smoothgrad_have_the_image_shape():
    model, images = _small_cnn(), _images(2)
    plain = explain.saliency(model, images, 0)
    smooth = explain.saliency(model, images, 0, smooth_samples=5)
    assert plain.shape == smooth.shape == (2, 16, 16)
    assert np.all(plain >= 0) and np.all(plain <= 1)


def test_rectified_gradients_are_sparser_than_gradient_times_input():
    model, images = _small_cnn(), _images(3)
    rectified = explain.rectified_gradients(model, images, 0, percentile=90.0)
    gradient, _ = explain._class_gradients(explain.logit_model(model), images, 0)
    assert np.mean(rectified != 0) < np.mean(gradient * images != 0)
    smooth = explain.rectified_gradients(model, images, 0, percentile=90.0, smooth_samples=3)
    assert smooth.shape == images.shape and np.isfinite(smooth).all()


def test_randomised_copy_changes_only_the_top_layers():
    model = _small_cnn()
    copy = explain.randomised_copy(model, 1)
    weighted = [i for i, layer in enumerate(model.layers) if layer.weights]
    assert not np.allclose(model.layers[weighted[-1]].get_weights()[0], copy.layers[weighted[-1]].get_weights()[0])
    for i in weighted[:-1]:
        assert np.array_equal(model.layers[i].get_weights()[0], copy.layers[i].get_weights()[0])


def test_randomising_every_layer_of_a_batch_normalised_network_keeps_it_finite():
    import keras

    keras.utils.set_random_seed(3)
    model = keras.Sequential([keras.Input((16, 16, 1)), keras.layers.Conv2D(4, 3), keras.layers.BatchNormalization(),
                              keras.layers.ReLU(), keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(3)])
    images = _images(4)
    model(images, training=True)  # moving statistics away from their initial values
    n_weighted = len([layer for layer in model.layers if layer.trainable_weights])
    copy = explain.randomised_copy(model, n_weighted)
    assert np.isfinite(copy.predict(images, verbose=0)).all()
    bn = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)][0]
    bn_copy = copy.get_layer(bn.name)
    np.testing.assert_array_equal(bn.moving_variance.numpy(), bn_copy.moving_variance.numpy())
    assert not np.allclose(bn.gamma.numpy(), bn_copy.gamma.numpy())


def test_every_explanation_method_gives_the_same_maps_twice():
    """Same seed, same numbers: the seven methods of the LArTPC chapter, each run twice
    (SmoothGrad's noise came from NumPy's global generator, different every run)."""
    model, images = _small_cnn(), _images(2)
    methods = {
        "Grad-CAM": lambda: explain.grad_cam(model, images, 1, "conv"),
        "saliency": lambda: explain.saliency(model, images, 1),
        "SmoothGrad": lambda: explain.saliency(model, images, 1, smooth_samples=6),
        "integrated gradients": lambda: explain.integrated_gradients(model, images, 1, steps=20)[0],
        "rectified gradients": lambda: explain.rectified_gradients(model, images, 1, smooth_samples=3),
        "guided backpropagation": lambda: explain.guided_backprop(model, images, 1),
        "guided Grad-CAM": lambda: explain.guided_grad_cam(model, images, 1, "conv"),
    }
    for name, method in methods.items():
        first = method()
        np.random.seed(None)  # whatever the global generator's state, as between two notebook runs
        assert np.array_equal(first, method()), name
    other = explain.saliency(model, images, 1, smooth_samples=6, seed=1)
    assert not np.array_equal(other, methods["SmoothGrad"]())  # the seed is what fixes the noise
