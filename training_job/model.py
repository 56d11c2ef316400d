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
