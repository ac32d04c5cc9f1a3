"""Teaching one network from another's readings (knowledge distillation, Hinton et al. 2015).

With ``model.icr --teacher RUN`` every training batch also goes through the teacher (a
committee, ``model.committee``, or any run of the same frame rate), and the loss adds to the
CTC loss of the labels the Kullback-Leibler divergence of the student's per-frame class
distribution from the teacher's, summed over the frames as the CTC loss is summed over a
sequence. The teacher's distribution says more than the label: which frames carry a digit
and how sure several networks are of it, which is how one network may learn what a
committee reads at one network's cost (docs/training.md: three fine-tuning epochs on
generated sequences did not carry a committee's gain on real hands).

The teacher's logits travel with the labels: the loss gets (batch, frames, 11 + 1), the
teacher's log-probabilities and, in the last channel, the label padded with zeros (CTC's
padding) to the frame count.
"""

from __future__ import annotations

import keras
from keras import ops

from model.vocab import NUM_CLASSES


@keras.saving.register_keras_serializable(package="digits")
class DistillCTC(keras.losses.Loss):
    """CTC of the labels plus ``weight`` times KL(teacher || student) summed over frames."""

    def __init__(self, weight: float = 1.0, name: str = "distill_ctc", **kwargs):
        super().__init__(name=name, **kwargs)
        self.weight = weight

    def call(self, y_true, y_pred):
        teacher = y_true[..., :NUM_CLASSES]
        labels = ops.cast(y_true[..., NUM_CLASSES], "int32")
        ctc = keras.losses.ctc(labels, y_pred)
        student = ops.log_softmax(y_pred, axis=-1)
        kl = ops.sum(ops.exp(teacher) * (teacher - student), axis=(1, 2))
        return ctc + self.weight * kl

    def get_config(self):
        return {**super().get_config(), "weight": self.weight}


def taught(ds, teacher):
    """A batched (images, labels) dataset as (images, packed): the teacher's
    log-probabilities for each batch and the labels, as DistillCTC reads them."""
    import tensorflow as tf

    def pack(images, labels):
        logits = teacher(images, training=False)
        logp = tf.nn.log_softmax(tf.cast(logits, tf.float32), axis=-1)
        frames = tf.shape(logp)[1]
        padded = tf.pad(labels, [[0, 0], [0, frames - tf.shape(labels)[1]]])
        return images, tf.concat([logp, tf.cast(padded, tf.float32)[..., None]], axis=-1)

    return ds.map(pack)
