"""LocSens (Gomez et al., ECCV 2020), stage 2: embeddings of the stage-1 model, an (image, tag,
location) scorer trained on them, its evaluation, and tag ranking and photo search with it."""
