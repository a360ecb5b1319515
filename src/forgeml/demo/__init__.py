"""Demo material: example data for the bundled example algorithms (needs scikit-learn)."""
