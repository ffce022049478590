"""Reading audio and writing results: audio files read, checked and resampled (soundfile, soxr), atomic writes and run
directories, rows that spill to disk, heap trimming, progress bars."""
