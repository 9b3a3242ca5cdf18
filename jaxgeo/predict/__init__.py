"""Predictions on photos: the Predictor (one per trained run), its answers, photo decoding, the
landmark index, the model card and the batch command line (`python -m jaxgeo.predict`)."""
