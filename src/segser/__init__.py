"""segser: segment-level speech emotion recognition with transfer learning.

>>> import segser
>>> timeline, decisions, errors = segser.predict(["speech.wav", "folder/"])  # doctest: +SKIP

``timeline`` has one row per segment, indexed by (file, start, end);
``decisions`` one row per file; ``errors`` maps inputs that could not be read
to the reason. The built-in default model is used unless ``model=`` names a
run directory or another built-in model.
"""
__version__ = "0.1.0"


def predict(files, model=None, **options):
    """Emotion timeline and clip decisions of ``files`` (see :func:`segser.inference.predict`)."""
    from .inference import predict as _predict
    return _predict(files, model=model, **options)
