"""Retrieval and alignment of a person's own mouth from their reference clip; imports config, data, mouth, models; nothing above."""
