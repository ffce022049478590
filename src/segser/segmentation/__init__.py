"""Cutting audio into segments: fixed windows with the tail rule, speech regions and the speech share from the voice
detector (Silero VAD, one module), how a model cuts (Segmentation)."""
