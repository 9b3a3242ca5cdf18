r"""A frozen CLIP ViT-L/14 at 336 px on MP-16, with GeoEstimation's three partitions.

  tfds build tfds_builders/yfcc100m_geo --config mp16 --manual_dir /data/mp16 \
      --data_dir /data/tfds --file_format array_record
  tfds build tfds_builders/geo_testsets --manual_dir /data/testsets --data_dir /data/tfds \
      --file_format array_record
  python -m jaxgeo.main --config configs/mp16_clip_vitl14.py --workdir runs/mp16_clip_vitl14 \
      --config.data.dir=/data/tfds --config.partitions.input_csv=/data/mp16/mp16_places365.csv \
      --config.model.pretrained=/weights/clip-vit-large-patch14-336/model.safetensors

What to bring: the `model.safetensors` of the Hugging Face repository
`openai/clip-vit-large-patch14-336` (1.7 GB; the text tower in it is skipped), or an OpenAI /
open_clip `ViT-L-14-336` state dict (jaxgeo.models.vit_pretrained reads either).

The recipe of GeoCLIP and PIGEON with a CLIP tower: the tower is frozen, its 768-d projected
embedding of every MP-16 photo is extracted once (resumable shards under <workdir>/embeddings, bf16
compute), and only the partition heads train on them (AdamW, batches of 1024); evaluation runs the
whole model on the test images, and answers by retrieval and hybrid too over those same embeddings
as the gallery (7 GB of bfloat16 on the device). Estimates for one H100/H200 (not yet run: the
development machine has no GPU and no MP-16): extraction is the cost, about 2 x 0.3 GFLOP x 577
tokens, ~0.35 TFLOP a photo, so ~1k photos/s at 40% MFU and 1-1.5 h for MP-16's 4.7M photos (JPEG
decoding needs ~8 CPU cores to keep up); the heads then train in minutes; memory is ~1.2 GB of
weights plus the activations of a batch of 256. The embeddings take 4.7M x 768 x 4 bytes = 14 GB of
disk. To compare with: GeoEstimation's ResNet-50 reached 10.1 / 28.0 / 36.9 / 51.1 / 67.0 % on
Im2GPS3k at 1 / 25 / 200 / 750 / 2500 km; GeoCLIP (CLIP ViT-L/14, GPS gallery) 14.1 / 34.5 / 50.7 /
69.7 / 83.8; PIGEOTTO (CLIP ViT-L/14@336, trained end to end) 11.3 / 36.7 / 53.8 / 72.4 / 85.3.
"""

import ml_collections

from configs import common, mp16_resnet50


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  """The frozen-CLIP recipe; it takes no argument (`configs/mp16_clip_vitl14.py`)."""
  common.parse_arg(arg, __file__)
  config = mp16_resnet50.get_config()
  config.model.backbone = "clip_vit_l14"
  config.model.dtype = "bfloat16"
  config.model.freeze_backbone = True
  config.image_size = 336
  config.batch_size = 1024  # of embeddings: a heads-only step is cheap
  config.eval_batch_size = 256
  config.train_epochs = 10
  config.optim = common.base().optim
  config.optim.update(optimizer="adamw", learning_rate=1e-3, weight_decay=1e-4,
                      schedule="cosine", warmup_steps=1000)
  config.eval_every_steps = 10_000
  # Retrieval over MP-16 itself (as G3, Img2Loc and PIGEOTTO's refinement do): the embeddings
  # the heads trained on are the gallery, 4.7M x 768 in 7 GB of bfloat16 on the device.
  config.retrieval.gallery = "yfcc100m_geo/mp16:train"
  return config
