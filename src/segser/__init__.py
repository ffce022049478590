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


def predict(inputs, model=None, *, progress: bool = False, runtime: str = "auto", precision: str = "auto",
            speakers=None, options=None, **option_values):
    """Predict every audio file in ``inputs`` (files and/or directories).

    Keywords are :class:`~segser.results.timeline.PredictOptions` (``rule``, ``min_score``, ``segment``, ``hop``,
    ``vad``, ``speech_gate``, ``adapt``); ``speakers`` says which inputs share a speaker (``adapt="speaker"``).

    Returns ``(timeline, decisions, errors)``: timeline indexed by (file, start, end), decisions by file
    (with the adaptation applied to each), errors a {input: message} dict for inputs that could not be
    processed (the others still are).
    """
    import pandas as pd

    from segser.model import load_model
    from segser.pipeline import options_of
    from segser.results.timeline import columns, decision_columns, decision_row

    opts = options_of(options, **option_values)
    m = load_model(model, runtime=runtime, precision=precision)
    timelines, decisions, errors = [], [], {}
    for r in m.classify_files(inputs, speakers=speakers, options=opts, progress=progress):
        if not r.ok:
            errors[r.file] = r.error
            continue
        timelines.append(r.segments.assign(file=r.file))
        decisions.append(decision_row(r))
    cols = ["file"] + columns(m.classes)
    timeline = (pd.concat(timelines, ignore_index=True)[cols] if timelines else pd.DataFrame(columns=cols)).set_index(
        ["file", "start", "end"])
    dec = pd.DataFrame(decisions, columns=None if decisions else ["file"] + decision_columns(m.classes))
    return timeline, dec.set_index("file"), errors


def load_model(model=None, **options):
    """A trained model (see :func:`segser.model.load_model`)."""
    from segser.model import load_model as _load
    return _load(model, **options)
