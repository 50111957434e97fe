"""Models, one file per family. Plain ``nn.Module``s with typed constructors and shape comments.

The conventions every model here follows, so that no caller branches on "which family" or
"conditional or not":

* **Labels**: every generative model, encoder and discriminator takes ``y=None`` as its last
  argument — ``G(z, y)``, ``D(x, y)``, ``vae(x, y)``, ``vae.encode(x, y)``, ``vae.decode(z, y)``.
  ``num_classes`` (``None`` unless conditional) says what ``y`` must be: a conditional model
  without labels raises, and so does an unconditional one given labels. The classifier
  (:class:`CNNClassifier`) *predicts* labels, so it takes none: ``model(x)``.
* **Sampling**: a generative model has ``latent_dim`` and ``render(z, y=None)``, which maps codes
  ``(B, latent_dim)`` to images in [-1, 1] (a VAE converts its Bernoulli mean ``sigmoid(logits)``
  there). :func:`genimg_course.sampling.generate` draws the codes and calls it.
* **Image-conditioned discriminators** (:class:`PatchGAN`, lesson 07) take the *input image* a
  translation started from as ``condition`` (``D(x, condition)``, one logit per patch); they do not
  take class labels.
* **Arguments** are checked by the shared helpers in :mod:`._checks` (sizes, numbers, devices, labels, and a
  forward's input shape, dtype and device — never its values, so no step waits for the GPU).
"""
from .classifier import CNNClassifier
from .dcgan import DCGANDiscriminator, DCGANGenerator, check_gan_pair, dcgan_init
from .patchgan import PatchGAN, receptive_field
from .seed_dcgan import SeedDiscriminator, SeedGenerator
from .toy_gan import MLPDiscriminator, MLPGenerator
from .unet import UNet
from .vae import ConvAutoencoder, ConvVAE, MLPVAE

__all__ = ["CNNClassifier", "DCGANGenerator", "DCGANDiscriminator", "dcgan_init", "check_gan_pair",
           "MLPGenerator", "MLPDiscriminator", "SeedGenerator", "SeedDiscriminator",
           "ConvAutoencoder", "ConvVAE", "MLPVAE", "UNet", "PatchGAN", "receptive_field"]
