"""VGG16 without top + a linear head on pooled features.

The head is global average pooling -> dropout -> one dense layer, so a class activation map is the
dense weights applied to the last conv features: the serving model outputs both, and the map costs
no second pass. VGG16's mean subtraction is a layer inside the graph: the model takes the output of
:func:`lungct.imaging.preprocess` (greyscale in three channels, 0..255) as it is.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# caffe-style VGG preprocessing (BGR means); channels are identical greyscale, so order is moot.
VGG_MEAN_BGR = (103.939, 116.779, 123.68)


@dataclass
class VggClassifier:
    """The models that share one set of weights."""

    base: Any  # VGG16 conv base (input: mean-subtracted image)
    head: Any  # pooled features (512,) -> probabilities
    train_model: Any  # image -> probabilities
    serving_model: Any  # image -> {"probabilities", "features"}


def build_classifier(
    *, image_size: int = 224, num_classes: int = 4, weights: str | None = None, dropout: float = 0.3
) -> VggClassifier:
    import keras
    from keras import layers

    if image_size < 32:
        raise ValueError(f"image_size must be at least 32 (VGG16 pools 5 times); received image_size={image_size}")
    if num_classes < 2:
        raise ValueError(f"num_classes must be at least 2; received num_classes={num_classes}")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1); received dropout={dropout}")
    image = keras.Input((image_size, image_size, 3), name="image")
    centred = layers.Normalization(mean=list(VGG_MEAN_BGR), variance=[1.0, 1.0, 1.0], name="vgg_mean")(image)
    base = keras.applications.VGG16(include_top=False, weights=weights, input_shape=(image_size, image_size, 3))
    features = base(centred)
    pool = layers.GlobalAveragePooling2D(name="pool")
    drop = layers.Dropout(dropout, name="dropout")
    dense = layers.Dense(num_classes, activation="softmax", name="probabilities", dtype="float32")
    probs = dense(drop(pool(features)))
    pooled_in = keras.Input((base.output_shape[-1],), name="pooled")
    head = keras.Model(pooled_in, dense(drop(pooled_in)), name="head")
    train_model = keras.Model(image, probs, name="lungct_vgg16")
    serving_model = keras.Model(image, {"probabilities": probs, "features": features}, name="lungct_vgg16_serving")
    return VggClassifier(base=base, head=head, train_model=train_model, serving_model=serving_model)


FINE_TUNE_BLOCK = "block5"


def set_fine_tuning(clf: VggClassifier, *, block: str | None = FINE_TUNE_BLOCK) -> int:
    """Freeze the base except the layers of ``block`` (None freezes all); returns how many train."""
    if block is not None and not any(layer.name.startswith(block + "_") for layer in clf.base.layers):
        raise ValueError(f"block must name a VGG16 block such as 'block5'; received block={block!r}")
    clf.base.trainable = True
    trainable = 0
    for layer in clf.base.layers:
        layer.trainable = block is not None and layer.name.startswith(block + "_")
        trainable += int(layer.trainable and bool(layer.weights))
    if trainable == 0:
        clf.base.trainable = False
    return trainable


def build_augmentation(*, seed: int = 42, rotation: float = 0.03, shift: float = 0.05, zoom: float = 0.1,
                       brightness: float = 0.1, contrast: float = 0.1) -> Any:
    """Training-only augmentation on the 0..255 input: flips, small rotations, shifts, zoom, brightness, contrast.

    Left-right flips only: a CT slice flipped top-bottom puts the spine in front of the sternum.
    """
    import keras
    from keras import layers

    for name, value in (("rotation", rotation), ("shift", shift), ("zoom", zoom),
                        ("brightness", brightness), ("contrast", contrast)):
        if not 0.0 <= value < 1.0:
            raise ValueError(f"{name} must be in [0, 1); received {name}={value}")
    return keras.Sequential(
        [
            layers.RandomFlip("horizontal", seed=seed, name="aug_flip"),
            layers.RandomRotation(rotation, fill_mode="constant", seed=seed + 1, name="aug_rotate"),
            layers.RandomTranslation(shift, shift, fill_mode="constant", seed=seed + 2, name="aug_shift"),
            layers.RandomZoom(zoom, fill_mode="constant", seed=seed + 3, name="aug_zoom"),
            layers.RandomBrightness(brightness, value_range=(0.0, 255.0), seed=seed + 4, name="aug_brightness"),
            layers.RandomContrast(contrast, value_range=(0.0, 255.0), seed=seed + 5, name="aug_contrast"),
        ],
        name="augmentation",
    )


PRECISIONS = ("auto", "mixed", "float32")


def use_mixed_precision_if_gpu(precision: str = "auto") -> bool:
    """Set the global policy: ``mixed_float16`` on a GPU with ``auto`` (the final Dense stays
    float32), or as asked with ``mixed`` / ``float32``. Returns whether training runs mixed."""
    import keras

    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}; received precision={precision!r}")
    if precision == "auto":
        import tensorflow as tf

        mixed = bool(tf.config.list_physical_devices("GPU"))
    else:
        mixed = precision == "mixed"
    keras.mixed_precision.set_global_policy("mixed_float16" if mixed else "float32")
    return mixed
