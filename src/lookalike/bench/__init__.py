"""Benchmarks that print numbers: engine latency (vs face_recognition), search at scale, the web app under load."""
