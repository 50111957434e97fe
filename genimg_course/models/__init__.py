"""Models, one file per family. Plain ``nn.Module``s with typed constructors and shape comments."""
from .classifier import CNNClassifier
from .dcgan import DCGANDiscriminator, DCGANGenerator, check_gan_pair, dcgan_init
from .seed_dcgan import SeedDiscriminator, SeedGenerator
from .toy_gan import MLPDiscriminator, MLPGenerator
from .vae import ConvAutoencoder, ConvVAE, MLPVAE, VAEGenerator

__all__ = ["CNNClassifier", "DCGANGenerator", "DCGANDiscriminator", "dcgan_init", "check_gan_pair",
           "MLPGenerator", "MLPDiscriminator", "SeedGenerator", "SeedDiscriminator",
           "ConvAutoencoder", "ConvVAE", "MLPVAE", "VAEGenerator"]
