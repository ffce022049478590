"""Adaptation from unlabelled speech: statistics, the mood check, the adaptation heads, the guarded policy (one
plan_for for batches, conversations, live and Ray) and live state."""
