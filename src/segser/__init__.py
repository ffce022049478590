"""segser: segment-level speech emotion recognition with transfer learning.

>>> import segser
>>> timeline, decisions, errors = segser.predict(["speech.wav", "folder/"])  # doctest: +SKIP

``timeline`` has one row per segment, indexed by (file, start, end);
``decisions`` one row per file; ``errors`` maps inputs that could not be read
to the reason. The built-in default model is used unless ``model=`` names a
run directory, an exported model or another built-in model.

>>> model = segser.load_model("default-4class")  # doctest: +SKIP
"""
__version__ = "0.1.0"


def predict(files, model=None, **options):
    """Emotion timeline, clip decisions and errors of ``files`` (see :func:`segser.inference.predict`)."""
    from .inference import predict as _predict
    return _predict(files, model=model, **options)


def load_model(model=None, **options):
    """A trained model (see :func:`segser.model.load_model`)."""
    from .model import load_model as _load
    return _load(model, **options)
