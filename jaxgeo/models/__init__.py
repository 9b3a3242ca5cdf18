"""Models in Flax NNX: the backbones (`resnet`, `vit` for plain ViT, CLIP and SigLIP towers;
`backbones` names each with its input scaling and weight importer), the heads (`heads`), the
geolocator that puts them together (`geolocator`, the one forward pass), the importers of
published weights (`pretrained`, `vit_pretrained`), and the face detector's networks (`mtcnn`)."""
