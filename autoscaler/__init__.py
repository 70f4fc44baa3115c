"""autoscaler: a self-hosted autoscaler for Heroku formations."""

__version__ = "0.1.0"

__all__ = ["__version__"]
