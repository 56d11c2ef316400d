"""Class activation maps: the math, the overlay, and a map that finds a planted lesion."""
from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from lungct.heatmap import class_activation_map, heatmap_key, load_head, overlay_png, upsample


def test_cam_is_the_dense_kernel_applied_at_each_position():
    features = np.zeros((3, 3, 2), np.float32)
    features[0, 2] = [1.0, 0.0]
    features[2, 0] = [0.0, 1.0]
    kernel = np.array([[2.0, -1.0], [0.5, 1.0]], np.float32)  # (channels, classes)
    cam0 = class_activation_map(features, kernel, 0)
    assert cam0[0, 2] == 1.0 and cam0[2, 0] == 0.25 and cam0.sum() == 1.25
    cam1 = class_activation_map(features, kernel, 1)
    assert cam1[2, 0] == 1.0 and cam1[0, 2] == 0.0  # negative evidence clipped
    with pytest.raises(ValueError, match="features must be"):
        class_activation_map(features, kernel[:1], 0)


def test_overlay_is_a_small_rgb_png_with_colour_where_the_map_is_high():
    slice_ = np.full((300, 400), 100, np.float32)
    cam = np.zeros((4, 4), np.float32)
    cam[0, 3] = 1.0
    with Image.open(io.BytesIO(overlay_png(slice_, cam))) as img:
        rgb = np.asarray(img.convert("RGB"), np.int16)
    assert rgb.shape == (192, 256, 3)
    assert abs(rgb[10, 245, 0] - rgb[10, 245, 2]) > 50  # hot corner is coloured
    assert np.all(rgb[180, 10] == 100)  # elsewhere the slice stays grey


def test_heatmap_key_keeps_the_image_path():
    assert heatmap_key("s1", "series 1/a.png") == "heatmaps/s1/series 1/a.png.png"


def lesion_slice(rng: np.random.Generator, size: int, lesion: tuple[float, float] | None) -> np.ndarray:
    yy, xx = np.mgrid[0:size, 0:size] / size
    body = ((xx - 0.5) ** 2 / 0.2 + (yy - 0.5) ** 2 / 0.14) < 1
    img = np.where(body, 80.0, 5.0) + rng.normal(0, 5, (size, size))
    if lesion is not None:
        cx, cy = lesion
        img = np.where(((xx - cx) ** 2 + (yy - cy) ** 2) < 0.07 ** 2, 230.0, img)
    return np.clip(img, 0, 255).astype(np.uint8)


def small_cam_model(size: int):
    """A small conv net with the lungct head (conv features -> pooling -> dense "probabilities"),
    trained end to end in seconds; VGG16 from random weights localises too coarsely to test on."""
    import keras
    from keras import layers

    image = keras.Input((size, size, 3), name="image")
    x = layers.Rescaling(1.0 / 255.0)(image)
    x = layers.Conv2D(16, 3, padding="same", activation="relu")(x)
    x = layers.MaxPooling2D()(x)
    x = layers.Conv2D(32, 3, padding="same", activation="relu")(x)
    x = layers.MaxPooling2D()(x)
    features = layers.Conv2D(32, 3, padding="same", activation="relu", name="features")(x)
    probs = layers.Dense(4, activation="softmax", name="probabilities")(layers.GlobalAveragePooling2D()(features))
    train_model = keras.Model(image, probs)
    serving_model = keras.Model(image, {"probabilities": probs, "features": features})
    return train_model, serving_model


@pytest.mark.slow
def test_map_peaks_on_a_planted_lesion(tmp_path):
    """GIVEN a model trained on normal = no blob, adenocarcinoma = a blob anywhere in the body,
    exported as a serving artifact WHEN a slice with a blob is classified THEN the upsampled map
    of the predicted class peaks on the blob."""
    import keras

    from lungct.imaging import PreprocessParams, decode, preprocess_decoded
    from lungct.labels import LABELS
    from lungct.model.runtime import Classifier
    from tests.helpers import png_bytes
    from training_job.export import export_artifact

    size, rng = 64, np.random.default_rng(0)
    params = PreprocessParams(size=size)
    adeno, normal = LABELS.index("adenocarcinoma"), LABELS.index("normal")
    xs, ys = [], []
    for k in range(160):
        spot = None if k % 2 else (float(rng.uniform(0.3, 0.7)), float(rng.uniform(0.35, 0.65)))
        xs.append(preprocess_decoded(decode(png_bytes(lesion_slice(rng, size, spot))), params))
        ys.append(normal if spot is None else adeno)
    keras.utils.set_random_seed(1)
    train_model, serving_model = small_cam_model(size)
    train_model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy")
    train_model.fit(np.stack(xs), np.asarray(ys), epochs=12, batch_size=16, verbose=0)
    export_artifact(serving_model, tmp_path / "model", name="cam-test", version="1", labels=list(LABELS),
                    params=params, parity_images=np.stack(xs[:8]))
    clf = Classifier(tmp_path / "model", num_threads=2)
    kernel, _ = load_head(clf.directory, clf.card.sha256)
    for cx, cy in [(0.32, 0.38), (0.68, 0.62), (0.66, 0.4), (0.4, 0.6)]:
        image = decode(png_bytes(lesion_slice(rng, size, (cx, cy))))
        (pred,) = clf.predict(preprocess_decoded(image, params)[None])
        assert pred.label == "adenocarcinoma"
        cam = upsample(class_activation_map(pred.features, kernel, adeno), size, size)
        py, px = np.unravel_index(int(np.argmax(cam)), cam.shape)
        assert np.hypot(px / size - cx, py / size - cy) < 0.1, (cx, cy, px / size, py / size)
