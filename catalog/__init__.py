"""The asset document, settings, and the stores behind one interface."""
