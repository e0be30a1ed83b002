"""The Keras side: reading and writing model files, and what padrewrite needs of Keras.

- `io`: loading and saving with clear errors; `legacy_h5`: tf.keras 2 `.h5` files;
  `saved_config`: written `.keras` files Keras cannot load as saved; `lambdas`:
  saved Python lambdas outside safe mode.
- `model_io`: a model's inputs and outputs, flattened and named.
- `keras_internals`: every private Keras API padrewrite uses, in one place.
- `probe`: what a hand-written padding layer computes (against numpy.pad).
- `cpu`: oneDNN or not; the layers TensorFlow's other CPU kernels cannot run.
"""
