"""charloom trainer: corpus -> vocabulary -> tf.data -> model -> training -> tuning -> export."""
