"""Face engine: decode photos, detect faces, landmarks and 128-d embeddings (dlib)."""
