"""Benchmarks that print numbers: engine latency (vs face_recognition), search at scale."""
