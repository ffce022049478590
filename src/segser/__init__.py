"""segser: segment-level speech emotion recognition with transfer learning.

>>> import segser
>>> timeline, decisions, errors = segser.predict(["speech.wav", "folder/"])  # doctest: +SKIP

``timeline`` has one row per segment, indexed by (file, start, end); ``decisions`` one row per file;
``errors`` maps inputs that could not be read to the reason. The built-in default model is used unless
``model=`` names a run directory, an exported model or another built-in model.

>>> pipeline = segser.Pipeline("default-4class")               # doctest: +SKIP
>>> pipeline.classify_file("speech.wav").decision.label        # doctest: +SKIP
"""
from segser.model import EmotionModel, load_model
from segser.pipeline import Pipeline, PredictOptions, RunLimits
from segser.results.rows import results_frame
from segser.settings import __version__


def predict(inputs, model=None, *, progress: bool = False, runtime: str = "auto", precision: str = "auto",
            speakers=None, turns=None, transcribe=False, options=None, **option_values):
    """Predict every audio file in ``inputs`` (files and/or directories).

    Keywords are :class:`~segser.pipeline.PredictOptions` (``rule``, ``min_score``, ``clip_min_score``,
    ``segment``, ``hop``, ``vad``, ``speech_gate``, ``adapt``); ``speakers`` says which inputs share a speaker
    (``all``, ``file``, a ``file,speaker`` CSV or a mapping) or, ``auto``, finds the speakers of each recording
    (``turns``: :class:`~segser.diarization.turns.TurnOptions`); ``transcribe`` (True, or
    :class:`~segser.words.transcribe.WordOptions`) adds the words said: a row per utterance with its ``text``.

    Returns ``(timeline, decisions, errors)``: the timeline indexed by (file, start, end) (with a ``speaker``
    column when speakers were found), decisions by file (with the adaptation applied to each as ``adapt_*``),
    errors a {input: message} dict for inputs that could not be processed (the others still are).
    """
    pipeline = Pipeline(model, options, speakers=speakers, turns=turns, transcribe=transcribe, runtime=runtime,
                        precision=precision, **option_values)
    return results_frame(pipeline.run(inputs, progress=progress), pipeline.classes)


__all__ = ["EmotionModel", "Pipeline", "PredictOptions", "RunLimits", "__version__", "load_model", "predict"]
