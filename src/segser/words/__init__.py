"""The words said: offline transcription (Whisper through CTranslate2) read with the recording, and utterances as the
timeline's rows."""
