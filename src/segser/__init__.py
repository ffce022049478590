"""segser: segment-level speech emotion recognition with transfer learning."""
__version__ = "0.1.0"


def predict(files, model=None, **options):
    """Emotion timeline of ``files`` (see :func:`segser.inference.predict`)."""
    from .inference import predict as _predict
    return _predict(files, model=model, **options)
