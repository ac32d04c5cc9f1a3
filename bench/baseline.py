"""The baseline a Keras user would start from: the Keras captcha-OCR CRNN, rebuilt here from
its description (logits out, trained with ``keras.losses.CTC``):

two 3x3 convolutions (32 and 64 filters, ReLU), each followed by 2x2 max-pooling; the
feature map reshaped to a sequence along the width; Dense 64 + dropout 0.2; a bidirectional
LSTM of 128 and one of 64 (dropout 0.25); a Dense output; Adam at 1e-3.
"""

from __future__ import annotations

from model.vocab import NUM_CLASSES

WIDTH_FACTOR = 4  # two 2x2 poolings
LEARNING_RATE = 1e-3


def time_steps(width: int) -> int:
    return width // 2 // 2


def build_baseline(height: int = 28):
    """Images (batch, height, width, 1), pixels 0..255 -> logits (batch, width // 4, 11)."""
    import keras
    from keras import layers

    image = keras.Input((height, None, 1), name="image")
    x = layers.Rescaling(1 / 255)(image)
    x = layers.Conv2D(32, 3, padding="same", activation="relu", name="conv1")(x)
    x = layers.MaxPooling2D(2, name="pool1")(x)
    x = layers.Conv2D(64, 3, padding="same", activation="relu", name="conv2")(x)
    x = layers.MaxPooling2D(2, name="pool2")(x)
    rows, channels = x.shape[1], x.shape[3]
    x = layers.Permute((2, 1, 3))(x)
    x = layers.Reshape((-1, rows * channels))(x)
    x = layers.Dense(64, activation="relu", name="dense1")(x)
    x = layers.Dropout(0.2)(x)
    x = layers.Bidirectional(layers.LSTM(128, return_sequences=True, dropout=0.25))(x)
    x = layers.Bidirectional(layers.LSTM(64, return_sequences=True, dropout=0.25))(x)
    logits = layers.Dense(NUM_CLASSES, name="logits")(x)
    model = keras.Model(image, logits, name="captcha_ocr_baseline")
    model.compile(optimizer=keras.optimizers.Adam(LEARNING_RATE), loss=keras.losses.CTC())
    return model
