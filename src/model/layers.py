"""The toolkit's own Keras layers, registered so that a saved model loads in safe mode
wherever this module has been imported (``model.runs.load_run`` imports it)."""

from __future__ import annotations

import keras
from keras import ops

FLOOR = 1e-12  # below any probability a float32 softmax gives a class; keeps the log finite


@keras.saving.register_keras_serializable(package="digits")
class MeanOfSoftmax(keras.layers.Layer):
    """log(mean over k of softmax(logits_k)), frame by frame: a committee's logits
    (``model.committee``)."""

    def call(self, inputs):
        probs = [ops.softmax(x, axis=-1) for x in inputs]
        return ops.log(ops.maximum(sum(probs[1:], probs[0]) / len(probs), FLOOR))

    def compute_output_shape(self, input_shape):
        return input_shape[0]
