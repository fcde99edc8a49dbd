"""The celebrity gallery: storage of named face embeddings, building it, and searching it."""
