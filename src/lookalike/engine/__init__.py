"""Face engine: decode photos, detect faces (YuNet), landmarks, and embeddings (dlib + SFace fused by default)."""
