"""The stages of one turn, each a small class with one verb (see assistant/pipeline.py)."""
