"""zhisuan (智算): provincial AI compute coordination and scheduling platform and its policy programs."""

__version__ = "0.1.0"
__all__ = ["__version__"]
