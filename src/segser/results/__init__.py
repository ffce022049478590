"""What a prediction gives: typed results (Decision, Turn, SpeakerSummary, FileResult), the timeline and its decision
rules, one row formatter, the writers and the plots."""
