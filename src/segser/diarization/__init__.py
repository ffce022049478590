"""Who speaks when: the voice encoder (Resemblyzer), speaker turns by clustering its windows, and the diarization error
rate."""
