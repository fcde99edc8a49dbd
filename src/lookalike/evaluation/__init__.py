"""Accuracy measurements anyone can rerun: LFW verification and gallery identification."""
