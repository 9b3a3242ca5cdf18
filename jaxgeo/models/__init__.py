"""Models: the ResNet backbones (`resnet`); heads and the geolocator build on them."""
