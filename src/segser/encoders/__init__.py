"""From audio to segment embeddings: frontends (features/), pretrained backbones and their registry (backbones/), and
the streaming engine that cuts, encodes and pools (engine.py)."""
