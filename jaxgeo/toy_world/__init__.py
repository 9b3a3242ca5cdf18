"""The generated toy world (the embedded default data), written in the official raw formats."""
