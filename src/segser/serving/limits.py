"""What the service takes at most, in one place (the command line shows them without importing FastAPI)."""

MAX_UPLOAD_MB = 200.0  # an upload's size
MAX_AUDIO_S = 600.0  # an upload's length
MAX_SEGMENTS_PER_REQUEST = 20_000
# Uploads in work at once (more wait for a slot; past MAX_WAITING waiting ones the answer is 503 with Retry-After).
# Each holds up to ~100 MB while its speakers are found (the voice encoder's batch, the clustering): the server's
# ceiling under load is measured by benchmarks/reliability.py.
MAX_ACTIVE = 4
MAX_WAITING = 64
SHORT_S = 60.0  # an upload no longer than this holds little and is worked on at once, never behind long ones
MAX_STREAMS = 64
MAX_STREAM_S = 4 * 3600.0
